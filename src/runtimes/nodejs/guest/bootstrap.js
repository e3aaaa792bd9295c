// Runs INSIDE a V8 context of an isolated-vm isolate, once per context (one context per warm
// instance), before any user code. The host never imports this file: it reads it as text and
// compiles it in each isolate. Its completion value is the single `entry(op, ...)` function the
// host holds a Reference to. The one thing of the host put into the context is `wake`, a
// fire-and-forget isolated-vm Callback that takes two numbers (see Timers), held in this closure
// and never on a global; no reference, no `ivm`, nothing that answers. So everything here, and the
// user's code, can reach only this context's own built-ins.
//
// Protocol (all values crossing the boundary are strings, so no object of one realm is ever handed
// to the other):
//   entry('load', factory, config, wake) -> envelope runs the user's module body once
//   entry('invoke', eventJson, id)     -> Promise<envelope>   `id` is the host's number for the call
//   entry('abort', id)                 -> envelope   ends invocation `id` as a timeout if it is still
//                                                    pending and returns the logs it wrote so far
//   entry('fire', id)                  -> undefined  runs invocation `id`'s timers that are due
// Timers (setTimeout, setInterval, setImmediate) belong to the invocation that set them and are
// driven by the host: when the earliest due time of a pending invocation's timers moves earlier,
// the guest calls wake(id, ms); the host waits on its own clock (never past the invocation's
// deadline) and calls `fire`. So a timer runs only inside its own invocation, in its own context,
// and a call that sets none costs nothing more; when the invocation ends, its pending timers are
// cancelled (and counted in its logs).
// An envelope is a JSON string: {"s":"ok","r":<result JSON>,"l":[logs],"t":ms},
// {"s":"error","e":{name,message,stack,line,column},"l":[...],"t":ms}, {"s":"output_limit","n":bytes,"l":[...],"t":ms},
// {"s":"memory","e":{...},"l":[...],"t":ms}, {"s":"timeout","l":[...]} or {"s":"busy"}.
// `t` is how long the invocation ran, in whole milliseconds of the guest's clock (the host uses it
// to decide whether this instance's calls may be pipelined).
//
// The host may queue several invocations of one context on its isolate (pipelining); isolated-vm
// runs them one after the other, each with its microtasks. An invocation that has not settled when
// its own call returns (a promise that never settles, or a call isolated-vm stopped) would otherwise
// share the context, and the log buffer, with the next one: while one is pending, `invoke` refuses
// with {"s":"busy"} without running anything, and the host runs that call again elsewhere.
(function bootstrap() {
  'use strict';

  // Intrinsics are captured before user code runs: a script may replace JSON.stringify or
  // Array.prototype.push in its own context, and that must not break (or fake) the protocol.
  const global = globalThis;
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const PromiseCtor = Promise;
  const promiseResolve = Promise.resolve.bind(Promise);
  const promiseThen = Promise.prototype.then;
  const reflectApply = Reflect.apply;
  const StringCtor = String;
  const isFiniteNumber = Number.isFinite;
  const stringSlice = String.prototype.slice;
  const stringSplit = String.prototype.split;
  const stringIndexOf = String.prototype.indexOf;
  const stringReplace = String.prototype.replace;
  const charCodeAt = String.prototype.charCodeAt;
  const arrayJoin = Array.prototype.join;
  const regExpExec = RegExp.prototype.exec;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const RangeErrorCtor = RangeError;
  const NumberCtor = Number;
  const objectCreate = Object.create;
  const defineProperty = Object.defineProperty;
  const dateNow = Date.now;
  const arraySort = Array.prototype.sort;
  const mathMax = Math.max;

  const USER_FILE = 'script.js';
  const BOOTSTRAP_FILE = 'lambda-bootstrap.js';
  const MAX_ERROR_MESSAGE = 8192;
  const MAX_ERROR_STACK = 16384;

  // WebAssembly memory is reserved outside the isolate's heap, so isolated-vm's memoryLimit does not
  // bound it (a 1 GiB WebAssembly.Memory allocates fine under a 64 MB limit). Node.js scripts have
  // no use for it here (Rust/WebAssembly has its own runtime), so it is removed rather than capped.
  // SharedArrayBuffer goes too: nothing in a single-threaded sandbox needs shared memory, and it is
  // another way to reach WebAssembly-style shared buffers. No other path reaches these constructors
  // once the globals are gone.
  delete global.WebAssembly;
  delete global.SharedArrayBuffer;
  // FinalizationRegistry callbacks run as tasks V8 posts after a garbage collection, outside any
  // host call and so outside every timeout: `new FinalizationRegistry(() => { for (;;) {} })` would
  // hang the isolate for every other session in it. Atomics.waitAsync likewise resolves from a
  // posted task. Neither has a use in a request/response script.
  delete global.FinalizationRegistry;
  if (typeof Atomics === 'object') delete Atomics.waitAsync;
  // isolated-vm waits for a promise that is still pending when a call returns by calling V8's
  // Promise::Then and then Catch on it, after the call's timeout has ended: Then looks up the
  // promise's `constructor` and its Symbol.species, Catch looks up `then`. A script that put a
  // getter there would run code outside every time limit, in the host's call (and its exception
  // would reach the host). They are fixed to the intrinsics, before any user code runs.
  const promisePrototype = PromiseCtor.prototype;
  const speciesGetter = Object.getOwnPropertyDescriptor(PromiseCtor, Symbol.species).get;
  defineProperty(promisePrototype, 'constructor', { value: PromiseCtor, writable: false, configurable: false, enumerable: false });
  defineProperty(promisePrototype, 'then', { value: promiseThen, writable: false, configurable: false, enumerable: false });
  defineProperty(PromiseCtor, Symbol.species, { get: speciesGetter, configurable: false, enumerable: false });

  // A resizable ArrayBuffer reserves its maximum outside the ArrayBuffer allocator that enforces
  // the isolate's memory limit, and commits it as it grows: `new ArrayBuffer(0, { maxByteLength:
  // 2 ** 30 })` grows past any limit. Buffers of a fixed length (counted by the allocator) stay.
  const NativeArrayBuffer = ArrayBuffer;
  const reflectConstruct = Reflect.construct;
  const SandboxArrayBuffer = function ArrayBuffer(length, options) {
    if (new.target === undefined) throw new TypeErrorCtor("Constructor ArrayBuffer requires 'new'");
    if (options !== undefined && options !== null && typeof options === 'object' && options.maxByteLength !== undefined) {
      throw new RangeErrorCtor('resizable ArrayBuffers (maxByteLength) are not available in the sandbox: their memory is outside the memory limit');
    }
    return reflectConstruct(NativeArrayBuffer, [length], new.target);
  };
  defineProperty(SandboxArrayBuffer, 'prototype', { value: NativeArrayBuffer.prototype, writable: false, configurable: false, enumerable: false });
  defineProperty(SandboxArrayBuffer, 'isView', { value: NativeArrayBuffer.isView, writable: true, configurable: true, enumerable: false });
  defineProperty(SandboxArrayBuffer, Symbol.species, Object.getOwnPropertyDescriptor(NativeArrayBuffer, Symbol.species));
  Object.setPrototypeOf(SandboxArrayBuffer, Object.getPrototypeOf(NativeArrayBuffer));
  defineProperty(NativeArrayBuffer.prototype, 'constructor', { value: SandboxArrayBuffer, writable: true, configurable: true, enumerable: false });
  defineProperty(global, 'ArrayBuffer', { value: SandboxArrayBuffer, writable: true, configurable: true, enumerable: false });

  // `global` is what CommonJS code expects; it is the same sandboxed object as globalThis.
  defineProperty(global, 'global', { value: global, writable: true, configurable: true, enumerable: false });

  // ---- limits, set by `load` -------------------------------------------------------------------
  let maxLogEntries = 100;
  let maxLogBytes = 65536;
  let maxResultBytes = 1048576;

  // ---- log capture -----------------------------------------------------------------------------
  let logs = [];
  let logBytes = 0;
  let droppedEntries = 0;
  let truncatedEntry = false;
  // Logs written by the module body belong to the first invocation that follows it.
  let keepLogsForNextInvoke = false;

  function resetLogs() {
    logs = [];
    logBytes = 0;
    droppedEntries = 0;
    truncatedEntry = false;
  }

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

  function writeLog(args) {
    // Once a limit is reached nothing more is formatted: a script logging in a loop pays only for
    // the counter, and the kept logs stay within maxLogEntries and maxLogBytes.
    if (logs.length >= maxLogEntries || logBytes >= maxLogBytes) {
      droppedEntries += 1;
      return;
    }
    let line = formatArgs(args);
    const bytes = utf8Length(line);
    if (logBytes + bytes > maxLogBytes) {
      line = utf8Truncate(line, maxLogBytes - logBytes);
      truncatedEntry = true;
      logBytes = maxLogBytes;
    } else {
      logBytes += bytes;
    }
    logs[logs.length] = line;
  }

  function takeLogs() {
    const out = logs;
    if (droppedEntries > 0 || truncatedEntry) {
      const what = droppedEntries > 0 ? `${droppedEntries} more log entr${droppedEntries === 1 ? 'y' : 'ies'} dropped` : 'last entry cut';
      out[out.length] = `[logs truncated: ${what}; limits are ${maxLogEntries} entries and ${maxLogBytes} bytes per invocation]`;
    }
    resetLogs();
    return out;
  }

  function makeConsoleMethod(name) {
    const method = {
      [name](...args) {
        writeLog(args);
      },
    }[name];
    return method;
  }

  const sandboxConsole = objectCreate(null);
  const consoleMethods = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'];
  for (let i = 0; i < consoleMethods.length; i++) sandboxConsole[consoleMethods[i]] = makeConsoleMethod(consoleMethods[i]);
  // Replaces the context's built-in console, which would talk to an inspector, never to `logs`.
  defineProperty(global, 'console', { value: sandboxConsole, writable: true, configurable: true, enumerable: false });

  // ---- envelope serialisation ------------------------------------------------------------------
  // The envelope's own parts are serialised by hand: JSON.stringify of an object or array consults
  // `toJSON`, which a script can define on Object.prototype or Array.prototype and so corrupt the
  // envelope. JSON.stringify of a string primitive never does, so strings go through it.
  function quote(value) {
    return jsonStringify(typeof value === 'string' ? value : safeString(value));
  }

  function logsJson() {
    const lines = takeLogs();
    let out = '[';
    for (let i = 0; i < lines.length; i++) out += (i === 0 ? '' : ',') + quote(lines[i]);
    return `${out}]`;
  }

  function errorJson(described) {
    let out = `{"name":${quote(described.name)},"message":${quote(described.message)}`;
    if (typeof described.stack === 'string') out += `,"stack":${quote(described.stack)}`;
    if (typeof described.line === 'number' && typeof described.column === 'number') {
      out += `,"line":${described.line},"column":${described.column}`;
    }
    return `${out}}`;
  }

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

  function errorEnvelope(error) {
    const status = isArrayBufferMemoryError(error) ? 'memory' : 'error';
    return `{"s":"${status}","e":${errorJson(describeError(error))},"l":${logsJson()}}`;
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

  function okEnvelope(value) {
    let json;
    try {
      json = jsonStringify(value, resultReplacer);
    } catch (error) {
      if (error instanceof TypeErrorCtor && typeof error.message === 'string' && reflectApply(stringIndexOf, error.message, ['circular']) !== -1) {
        return errorEnvelope(notJson('it contains a circular reference', ''));
      }
      return errorEnvelope(error);
    }
    if (json === undefined) json = 'null';
    // Length in UTF-16 units never exceeds the UTF-8 byte length, so the exact count is needed only
    // when the string is close to the limit.
    if (json.length > maxResultBytes || (json.length * 3 > maxResultBytes && utf8Length(json) > maxResultBytes)) {
      const bytes = json.length > maxResultBytes ? json.length : utf8Length(json);
      return `{"s":"output_limit","n":${bytes},"l":${logsJson()}}`;
    }
    return `{"s":"ok","r":${json},"l":${logsJson()}}`;
  }

  // ---- the user's module -----------------------------------------------------------------------
  let handler;
  let form = 'body';

  function sandboxRequire(name) {
    throw new ErrorCtor(`require(${jsonStringify(safeString(name))}) is not available: scripts run in a sandbox without Node.js modules`);
  }

  function load(factory, configJson, wakeCallback) {
    const config = jsonParse(configJson);
    wake = typeof wakeCallback === 'function' ? wakeCallback : null;
    maxLogEntries = config.maxLogEntries;
    maxLogBytes = config.maxLogBytes;
    maxResultBytes = config.maxResultBytes;
    form = config.form;
    resetLogs();
    try {
      if (typeof factory !== 'function') {
        throw new ErrorCtor('the script could not be loaded: its top level ended the function wrapper it runs in');
      }
      if (form === 'body') {
        handler = factory;
        return '{"s":"ok","r":null,"l":[]}';
      }
      const module = { exports: {}, id: '.', filename: USER_FILE, loaded: false };
      reflectApply(factory, module.exports, [module.exports, sandboxRequire, module, USER_FILE, '/']);
      module.loaded = true;
      const exported = module.exports;
      let found;
      if (typeof exported === 'function') found = exported;
      else if (exported !== null && typeof exported === 'object' && typeof /** @type {{ handler?: unknown }} */ (exported).handler === 'function') found = /** @type {{ handler: Function }} */ (exported).handler;
      if (found === undefined) {
        const error = new TypeErrorCtor(
          'the script exports no function: assign one to module.exports (module.exports = async (event) => ...) or to exports.handler',
        );
        error.stack = undefined;
        return errorEnvelope(error);
      }
      handler = found;
      keepLogsForNextInvoke = true;
      return '{"s":"ok","r":null,"l":[]}';
    } catch (error) {
      return errorEnvelope(error);
    }
  }

  // ---- timers ----------------------------------------------------------------------------------
  // At most this many timers may be pending in one invocation: each is memory of the context, and
  // each due one a call from the host.
  const MAX_TIMERS = 1000;
  // And at most this many set in all: each may wake the host, which must not be flooded by a loop
  // of setTimeout/clearTimeout.
  const MAX_TIMERS_SET = 100000;
  let timersSet = 0;
  // id -> { due, fn, args, interval } (interval -1: a timeout); a null-prototype object, so that no
  // method a script can replace (Map.prototype.get...) is on the path.
  let timers = objectCreate(null);
  let timerCount = 0;
  let nextTimerId = 1;
  // The host's wake-up (set by `load`), and the earliest due time it was asked to wake for.
  let wake = null;
  let armedDue = Infinity;

  function arm(due) {
    if (wake === null || pending === null || due >= armedDue) return;
    armedDue = due;
    reflectApply(wake, undefined, [pending.id, mathMax(0, due - dateNow())]);
  }

  function earliestDue() {
    let due = Infinity;
    for (const key in timers) if (timers[key].due < due) due = timers[key].due;
    return due;
  }
  const timeoutPrototype = objectCreate(null);

  function addTimer(fn, delay, args, repeat) {
    if (pending === null) throw new ErrorCtor('timers run only while the function runs: set them in the handler, not at the top level of the module');
    if (typeof fn !== 'function') throw new TypeErrorCtor('the timer callback must be a function');
    if (timerCount >= MAX_TIMERS) throw new RangeErrorCtor(`more than ${MAX_TIMERS} timers pending in one invocation`);
    if (timersSet >= MAX_TIMERS_SET) throw new RangeErrorCtor(`more than ${MAX_TIMERS_SET} timers set in one invocation`);
    timersSet += 1;
    // As Node.js: a delay that is not a number is 0, one beyond 32 bits is 1.
    const asked = mathMax(0, NumberCtor(delay) || 0);
    const ms = asked > 2147483647 ? 1 : asked;
    const id = nextTimerId++;
    const due = dateNow() + ms;
    timers[id] = { due, fn, args, interval: repeat ? mathMax(1, ms) : -1 };
    timerCount += 1;
    arm(due);
    // Node.js hands out a Timeout object (ref/unref/hasRef/refresh); a number where it is used as one.
    const handle = objectCreate(timeoutPrototype);
    defineProperty(handle, 'id', { value: id, enumerable: false });
    return handle;
  }

  function timerId(handle) {
    return handle !== null && typeof handle === 'object' && typeof handle.id === 'number' ? handle.id : NumberCtor(handle);
  }

  function clearTimer(handle) {
    const id = timerId(handle);
    if (timers[id] === undefined) return;
    delete timers[id];
    timerCount -= 1;
  }

  /** Cancels every pending timer; answers how many there were. */
  function cancelTimers() {
    const cancelled = timerCount;
    timers = objectCreate(null);
    timerCount = 0;
    timersSet = 0;
    armedDue = Infinity;
    return cancelled;
  }

  function fire(id) {
    if (pending === null || pending.id !== id) return;
    // The host's wake-up for the earliest timer has come: a later one needs a new one.
    armedDue = Infinity;
    const now = dateNow();
    const ready = [];
    for (const key in timers) if (timers[key].due <= now) ready[ready.length] = NumberCtor(key);
    reflectApply(arraySort, ready, [(a, b) => timers[a].due - timers[b].due || a - b]);
    for (let i = 0; i < ready.length; i++) {
      const timer = timers[ready[i]];
      // Cleared by a callback before it, or the invocation ended.
      if (timer === undefined || pending === null || pending.id !== id) continue;
      if (timer.interval >= 0) timer.due = now + timer.interval;
      else clearTimer(ready[i]);
      try {
        reflectApply(timer.fn, undefined, timer.args);
      } catch (error) {
        // An exception nobody catches in a timer ends the invocation with it, as it would end a Node.js process.
        settle(id, () => errorEnvelope(error));
      }
    }
    if (timerCount > 0) arm(earliestDue());
  }

  defineProperty(timeoutPrototype, 'ref', { value() { return this; } });
  defineProperty(timeoutPrototype, 'unref', { value() { return this; } });
  defineProperty(timeoutPrototype, 'hasRef', { value() { return true; } });
  defineProperty(timeoutPrototype, 'refresh', {
    value() {
      const timer = timers[this.id];
      if (timer !== undefined) timer.due = dateNow() + mathMax(0, timer.interval);
      return this;
    },
  });
  defineProperty(timeoutPrototype, Symbol.toPrimitive, { value() { return this.id; } });
  const timerGlobals = {
    setTimeout: (fn, delay, ...args) => addTimer(fn, delay, args, false),
    setInterval: (fn, delay, ...args) => addTimer(fn, delay, args, true),
    setImmediate: (fn, ...args) => addTimer(fn, 0, args, false),
    clearTimeout: clearTimer,
    clearInterval: clearTimer,
    clearImmediate: clearTimer,
    queueMicrotask(fn) {
      if (typeof fn !== 'function') throw new TypeErrorCtor('the microtask must be a function');
      const owner = pending === null ? 0 : pending.id;
      reflectApply(promiseThen, promiseResolve(undefined), [
        () => {
          try {
            fn();
          } catch (error) {
            settle(owner, () => errorEnvelope(error));
          }
        },
      ]);
    },
  };
  for (const name in timerGlobals) defineProperty(global, name, { value: timerGlobals[name], writable: true, configurable: true, enumerable: false });

  // ---- invocations -----------------------------------------------------------------------------
  let sequence = 0;
  // At most one invocation is pending at a time (see `invoke`).
  let pending = null;
  // The invocation the log buffer belongs to: the last one `invoke` started.
  let logOwner = 0;
  const BUSY = '{"s":"busy"}';

  function settle(id, makeEnvelope) {
    if (pending === null || pending.id !== id) return;
    const { resolve, started } = pending;
    pending = null;
    const cancelled = cancelTimers();
    if (cancelled > 0) writeLog([`[${cancelled} timer${cancelled === 1 ? '' : 's'} still pending when the invocation ended: cancelled]`]);
    let envelope;
    try {
      envelope = makeEnvelope();
    } catch (error) {
      envelope = errorEnvelope(error);
    }
    // Every envelope is an object ending in `}`; the run time joins it there.
    resolve(`${reflectApply(stringSlice, envelope, [0, -1])},"t":${dateNow() - started}}`);
  }

  function settleWithPromise(id, value) {
    const promise = promiseResolve(value);
    reflectApply(promiseThen, promise, [
      (result) => settle(id, () => okEnvelope(result)),
      (error) => settle(id, () => errorEnvelope(error)),
    ]);
  }

  function isThenable(value) {
    try {
      return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
    } catch {
      return false;
    }
  }

  function run(id, event) {
    if (form === 'body') {
      settleWithPromise(id, reflectApply(handler, undefined, [event, event.params, event.context]));
      return;
    }
    const arity = handler.length;
    if (arity >= 2) {
      // Callback style: `(event, callback)`, or Lambda's `(event, context, callback)`. The first
      // call of the callback decides; a returned promise counts only if it rejects or resolves to a
      // value (an async handler that also takes a callback).
      let called = false;
      const callback = (error, value) => {
        if (called) return;
        called = true;
        if (error !== undefined && error !== null) settle(id, () => errorEnvelope(error));
        else settle(id, () => okEnvelope(value));
      };
      const args = arity >= 3 ? [event, event.context, callback] : [event, callback];
      const returned = reflectApply(handler, undefined, args);
      if (isThenable(returned)) {
        reflectApply(promiseThen, promiseResolve(returned), [
          (value) => {
            if (value !== undefined) settle(id, () => okEnvelope(value));
          },
          (error) => settle(id, () => errorEnvelope(error)),
        ]);
      }
      return;
    }
    settleWithPromise(id, reflectApply(handler, undefined, [event]));
  }

  function invoke(eventJson, hostId) {
    // An earlier invocation is still pending: running this one now would let the two interleave
    // (and mix their logs). It can settle only through code of this context, i.e. a later
    // invocation; run one at a time it would have timed out. The host retries this call elsewhere.
    if (pending !== null) return BUSY;
    if (keepLogsForNextInvoke) keepLogsForNextInvoke = false;
    else resetLogs();
    sequence += 1;
    const id = typeof hostId === 'number' ? hostId : -sequence;
    logOwner = id;
    const started = dateNow();
    return new PromiseCtor((resolve) => {
      pending = { id, resolve, started };
      try {
        run(id, jsonParse(eventJson));
      } catch (error) {
        settle(id, () => errorEnvelope(error));
      }
    });
  }

  // Ends invocation `id` as a timeout if it is pending. Its logs are returned when the buffer is
  // still its own (also after it settled, for what it wrote before isolated-vm stopped it); a later
  // invocation's logs never are. Without an id: whatever is pending (the host always passes one).
  function abort(id) {
    const anyPending = typeof id !== 'number';
    const owned = anyPending || logOwner === id;
    const envelope = `{"s":"timeout","l":${owned ? logsJson() : '[]'}}`;
    if (pending !== null && (anyPending || pending.id === id)) {
      const { resolve } = pending;
      pending = null;
      cancelTimers();
      resolve(envelope);
    }
    return envelope;
  }

  function entry(op, first, second, third) {
    switch (op) {
      case 'invoke':
        return invoke(first, second);
      case 'load':
        return load(first, second, third);
      case 'abort':
        return abort(first);
      case 'fire':
        return fire(first);
      default:
        throw new ErrorCtor(`unknown operation ${safeString(op)}`);
    }
  }

  return entry;
})();
