// Part of the Node.js guest prelude (see bootstrap.js): what a script's error and a refused result
// say, in the user's own coordinates, without this prelude's frames.
/* exported describeError, errorJson, isArrayBufferMemoryError, notJson, resultReplacer */

// ---- errors ----------------------------------------------------------------------------------
const USER_FRAME = /script\.js:(\d+):(\d+)/;

// Keeps the user's frames (already in the user's coordinates: the host compiles the wrapper with
// a line offset) and drops this file's frames, which say nothing to the user.
function cleanStack(stack) {
  const lines = reflectApply(stringSplit, stack, ['\n']);
  // Frames below the user's outermost frame are this file's (and the `new Promise` it calls the
  // handler from): they say nothing to the user.
  let last = lines.length - 1;
  for (let i = lines.length - 1; i > 0; i--) {
    if (reflectApply(stringIndexOf, lines[i], [`${USER_FILE}:`]) !== -1) {
      last = i;
      break;
    }
  }
  const kept = [];
  for (let i = 0; i <= last; i++) {
    if (reflectApply(stringIndexOf, lines[i], [BOOTSTRAP_FILE]) === -1) kept[kept.length] = lines[i];
  }
  let text = reflectApply(arrayJoin, kept, ['\n']);
  if (text.length > MAX_ERROR_STACK) text = `${reflectApply(stringSlice, text, [0, MAX_ERROR_STACK])}\n    ...`;
  return text;
}

function describeError(error) {
  let name = 'Error';
  let message = '';
  let stack;
  if ((typeof error === 'object' && error !== null) || typeof error === 'function') {
    try {
      const value = error.name;
      if (value !== undefined) name = safeString(value);
    } catch {
      name = 'Error';
    }
    try {
      const value = error.message;
      message = value === undefined ? formatValue(error) : safeString(value);
    } catch {
      message = '';
    }
    try {
      const value = error.stack;
      if (typeof value === 'string') stack = cleanStack(value);
    } catch {
      stack = undefined;
    }
  } else {
    // `throw "text"` and friends: keep the thrown value as the message.
    message = formatValue(error);
  }
  if (message.length > MAX_ERROR_MESSAGE) message = `${reflectApply(stringSlice, message, [0, MAX_ERROR_MESSAGE])}...`;
  if (name.length > 200) name = reflectApply(stringSlice, name, [0, 200]);
  const described = { name, message };
  if (stack !== undefined) {
    described.stack = stack;
    const match = reflectApply(regExpExec, USER_FRAME, [stack]);
    if (match) {
      described.line = +match[1];
      described.column = +match[2];
    }
  }
  return described;
}

function errorJson(described) {
  let out = `{"name":${quote(described.name)},"message":${quote(described.message)}`;
  if (typeof described.stack === 'string') out += `,"stack":${quote(described.stack)}`;
  if (typeof described.line === 'number' && typeof described.column === 'number') {
    out += `,"line":${described.line},"column":${described.column}`;
  }
  return `${out}}`;
}

// isolated-vm's allocator refuses ArrayBuffers over the memory limit with this RangeError instead
// of disposing the isolate; uncaught, it is the same memory limit as far as the user is concerned.
function isArrayBufferMemoryError(error) {
  try {
    return error instanceof RangeErrorCtor && error.message === 'Array buffer allocation failed';
  } catch {
    return false;
  }
}

// ---- results ---------------------------------------------------------------------------------
function notJson(what, key) {
  const where = key === '' ? '' : ` (at key ${jsonStringify(key)})`;
  const error = new TypeErrorCtor(`result is not JSON-serialisable: ${what}${where}`);
  error.stack = undefined;
  return error;
}

// JSON.stringify silently drops functions and symbols and turns NaN/Infinity into null; a result
// that would change on the way out is refused with a clear message instead.
function resultReplacer(key, value) {
  switch (typeof value) {
    case 'bigint':
      throw notJson('a BigInt', key);
    case 'function':
      throw notJson('a function', key);
    case 'symbol':
      throw notJson('a symbol', key);
    case 'number':
      if (!isFiniteNumber(value)) throw notJson(safeString(value), key);
      return value;
    default:
      return value;
  }
}
