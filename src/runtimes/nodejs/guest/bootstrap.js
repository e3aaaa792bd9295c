// Runs INSIDE a V8 context of an isolated-vm isolate, once per context (one context per warm
// instance), before any user code. The host never imports this file: it reads it as text, after
// the prelude's other parts (intrinsics.js, format.js, errors.js, timers.js), all inside one
// closure (nodejs-runtime.ts, guestPrelude), and compiles that in each isolate. Its value,
// `guestEntry`, is the single `entry(op, ...)` function the host holds a Reference to. The prelude
// also holds the platform (lambdaPlatform: web globals and built-in modules, platform/index.js),
// a parameter of that closure. The things of the host put into the context are three isolated-vm
// Callbacks, held in this closure and never on a global: `wake`, fire-and-forget, takes two
// numbers (see Timers); `random(n)` answers n bytes of the host's CSPRNG as a latin1 string;
// `clock()` answers a number (performance.now). No reference, no `ivm`, no object of the host. So
// everything here, and the user's code, can reach only this context's own built-ins.
//
// Protocol (all values crossing the boundary are strings, so no object of one realm is ever handed
// to the other):
//   entry('load', factory, config, wake, random, clock) -> envelope   runs the user's module body once
//   entry('invoke', eventJson, id)     -> Promise<envelope>   `id` is the host's number for the call
//   entry('abort', id)                 -> envelope   ends invocation `id` as a timeout if it is still
//                                                    pending and returns the logs it wrote so far
//   entry('fire', id)                  -> undefined  runs invocation `id`'s timers that are due
//   entry('warm')                      -> number     builds every platform global and built-in (code cache)
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
const guestEntry = (function bootstrap() {
  'use strict';

  // The intrinsics every part uses were captured before any user code (intrinsics.js).
  const global = globalThis;

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

  // The web platform globals (URL, TextEncoder, crypto...) and the built-in modules `require`
  // answers (buffer, util, crypto...): the platform bundle, lambdaPlatform (platform/index.js),
  // built in this context on first use. Its host side is two callbacks given by `load`.
  const platform = lambdaPlatform.installPlatform(global);
  const sandboxRequire = platform.require;

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


  function logsJson() {
    const lines = takeLogs();
    let out = '[';
    for (let i = 0; i < lines.length; i++) out += (i === 0 ? '' : ',') + quote(lines[i]);
    return `${out}]`;
  }





  function errorEnvelope(error) {
    const status = isArrayBufferMemoryError(error) ? 'memory' : 'error';
    return `{"s":"${status}","e":${errorJson(describeError(error))},"l":${logsJson()}}`;
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

  function load(factory, configJson, wakeCallback, randomCallback, clockCallback) {
    const config = jsonParse(configJson);
    timers.setWake(typeof wakeCallback === 'function' ? wakeCallback : null);
    platform.connect(randomCallback, clockCallback);
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
      else if (exported !== null && typeof exported === 'object') {
        // CommonJS `exports.handler`, ES modules' `export const handler` and `export default`.
        const named = /** @type {{ handler?: unknown, default?: unknown }} */ (exported);
        if (typeof named.handler === 'function') found = named.handler;
        else if (typeof named.default === 'function') found = named.default;
      }
      if (found === undefined) {
        const error = new TypeErrorCtor(
          'the script exports no function: assign one to module.exports (module.exports = async (event) => ...) or to exports.handler, or export it (export default, export const handler)',
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

  // ---- invocations -----------------------------------------------------------------------------
  const timers = installTimers({ current: () => (pending === null ? null : pending.id), fail: (id, error) => settle(id, () => errorEnvelope(error)) });
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
    const cancelled = timers.cancel();
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
      settleWithPromise(id, reflectApply(handler, undefined, [event, event.params, event.context, sandboxRequire]));
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
      timers.cancel();
      resolve(envelope);
    }
    return envelope;
  }

  function entry(op, first, second, third, fourth, fifth) {
    switch (op) {
      case 'invoke':
        return invoke(first, second);
      case 'load':
        return load(first, second, third, fourth, fifth);
      case 'abort':
        return abort(first);
      case 'fire':
        return timers.fire(first);
      case 'warm':
        // Builds every global and built-in once (in a throwaway context of the first isolate), so
        // that the prelude's code cache holds their compiled code for every later isolate.
        return platform.warm();
      default:
        throw new ErrorCtor(`unknown operation ${safeString(op)}`);
    }
  }

  return entry;
})();
