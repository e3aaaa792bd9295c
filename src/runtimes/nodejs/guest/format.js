// Part of the Node.js guest prelude (see bootstrap.js): how values are written into logs and error
// messages, and the UTF-8 measures of the bounds. Built on the intrinsics captured before any user
// code (intrinsics.js), so a script that replaces a built-in changes its own code, not these.
/* exported utf8Length, utf8Truncate, safeString, formatValue, formatArgs, quote */

function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = reflectApply(charCodeAt, text, [i]);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

// Cuts `text` to at most `limit` UTF-8 bytes without splitting a surrogate pair.
function utf8Truncate(text, limit) {
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const code = reflectApply(charCodeAt, text, [i]);
    let size = 1;
    let width = 1;
    if (code >= 0x80 && code < 0x800) size = 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      size = 4;
      width = 2;
    } else if (code >= 0x800) size = 3;
    if (bytes + size > limit) break;
    bytes += size;
    i += width;
  }
  return reflectApply(stringSlice, text, [0, i]);
}

function safeString(value) {
  try {
    return StringCtor(value);
  } catch {
    return '[unprintable]';
  }
}

function describeFunction(fn) {
  let name = '';
  try {
    name = typeof fn.name === 'string' ? fn.name : '';
  } catch {
    name = '';
  }
  return name ? `[Function: ${name}]` : '[Function (anonymous)]';
}

// Objects are printed as JSON (what a user of a JSON API expects to read back), made total:
// cycles, BigInt, functions, symbols and undefined get readable stand-ins instead of throwing.
function formatObject(value) {
  if (value instanceof ErrorCtor) {
    try {
      const stack = value.stack;
      if (typeof stack === 'string') return cleanStack(stack);
    } catch {
      // fall through to the generic form
    }
  }
  const seen = [];
  try {
    const text = jsonStringify(value, function replacer(key, item) {
      switch (typeof item) {
        case 'bigint':
          return `${safeString(item)}n`;
        case 'function':
          return describeFunction(item);
        case 'symbol':
          return safeString(item);
        case 'undefined':
          return key === '' ? 'undefined' : undefined;
        case 'object':
          if (item === null) return item;
          // `this` is the holder; drop holders that are no longer ancestors of `item`.
          while (seen.length > 0 && seen[seen.length - 1] !== this) seen.length -= 1;
          for (let i = 0; i < seen.length; i++) if (seen[i] === item) return '[Circular]';
          seen[seen.length] = item;
          return item;
        default:
          return item;
      }
    });
    return text === undefined ? safeString(value) : text;
  } catch {
    return safeString(value);
  }
}

function formatValue(value) {
  switch (typeof value) {
    case 'string':
      return value;
    case 'function':
      return describeFunction(value);
    case 'bigint':
      return `${safeString(value)}n`;
    case 'object':
      return value === null ? 'null' : formatObject(value);
    default:
      return safeString(value);
  }
}

// A small subset of Node's util.format: %s %d %i %f %j %o %O %% in a leading string.
function formatArgs(args) {
  const parts = [];
  let start = 0;
  if (typeof args[0] === 'string' && reflectApply(stringIndexOf, args[0], ['%']) !== -1 && args.length > 1) {
    let next = 1;
    const text = reflectApply(stringReplace, args[0], [
      /%([sdifjoO%])/g,
      (match, spec) => {
        if (spec === '%') return '%';
        if (next >= args.length) return match;
        const arg = args[next++];
        switch (spec) {
          case 's':
            return typeof arg === 'string' ? arg : formatValue(arg);
          case 'd':
          case 'i':
          case 'f':
            return typeof arg === 'bigint' ? `${safeString(arg)}n` : safeString(NumberCtor(arg));
          default:
            return formatValue(arg);
        }
      },
    ]);
    parts[0] = text;
    start = next;
  }
  for (let i = start; i < args.length; i++) parts[parts.length] = formatValue(args[i]);
  return reflectApply(arrayJoin, parts, [' ']);
}

// ---- envelope serialisation ------------------------------------------------------------------
// The envelope's own parts are serialised by hand: JSON.stringify of an object or array consults
// `toJSON`, which a script can define on Object.prototype or Array.prototype and so corrupt the
// envelope. JSON.stringify of a string primitive never does, so strings go through it.
function quote(value) {
  return jsonStringify(typeof value === 'string' ? value : safeString(value));
}
