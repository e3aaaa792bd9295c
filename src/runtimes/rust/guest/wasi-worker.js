/**
 * The worker thread that runs WebAssembly modules for the Rust (WebAssembly) runtime, one
 * invocation at a time, each in a fresh instance of an already compiled `WebAssembly.Module`.
 *
 * Its WASI is wasi-preview1.js: stdin is the event, stdout/stderr are captured, no file system,
 * environment, sockets or processes.
 *
 * Output goes into a SharedArrayBuffer the host reads, also after it has terminated this worker on
 * a timeout, so what a runaway script printed is not lost. Layout: Int32 header [stored bytes,
 * total bytes written (saturating), newlines written (saturating), 1 if the last byte written was a
 * newline], then the first bytes written.
 *
 * Messages in: { type: 'run', id, key, module?, evict?, stdin }. Out: { id, outcome, ... }.
 * Host code never imports this file; it is loaded by path.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { bytesOf, current, ERRNO, Stop, wasiImports } from './wasi-preview1.js';

const HEADER_BYTES = 16;
const INT32_MAX = 0x7fffffff;

const { logBuffer, maxResultBytes } = workerData;
const logHeader = new Int32Array(logBuffer, 0, 4);
const logBytes = new Uint8Array(logBuffer, HEADER_BYTES);
const logCapacity = logBytes.length;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Compiled modules this worker holds, by cache key; the host says which to drop. */
const modules = new Map();

function writeLog(chunk) {
  const total = Atomics.load(logHeader, 1);
  Atomics.store(logHeader, 1, Math.min(INT32_MAX, total + chunk.length));
  let newlines = 0;
  for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) newlines++;
  if (newlines > 0) Atomics.store(logHeader, 2, Math.min(INT32_MAX, Atomics.load(logHeader, 2) + newlines));
  if (chunk.length > 0) Atomics.store(logHeader, 3, chunk[chunk.length - 1] === 10 ? 1 : 0);
  const stored = Atomics.load(logHeader, 0);
  const room = logCapacity - stored;
  if (room > 0) {
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    logBytes.set(part, stored);
    Atomics.store(logHeader, 0, stored + part.length);
  }
}

function rememberStderr(chunk) {
  // The tail of stderr tells an allocation failure (Rust prints it, then aborts) from other traps.
  const text = current.stderrTail + decoder.decode(chunk.length > 512 ? chunk.subarray(chunk.length - 512) : chunk);
  current.stderrTail = text.length > 512 ? text.slice(text.length - 512) : text;
}

function writeStdout(chunk) {
  if (current.protocol === 'rust') {
    writeLog(chunk);
    return;
  }
  current.stdoutBytes += chunk.length;
  if (current.stdoutBytes > maxResultBytes) throw new Stop('output_limit', current.stdoutBytes);
  current.stdout.push(chunk.slice());
}

const wasi = wasiImports({
  stdout: writeStdout,
  stderr(chunk) {
    rememberStderr(chunk);
    writeLog(chunk);
  },
});
const nosys = () => ERRNO.NOSYS;

const lambdaImports = {
  result(ptr, len) {
    if (current.result !== undefined || current.error !== undefined) return;
    if (len > maxResultBytes) throw new Stop('output_limit', len);
    current.result = decoder.decode(bytesOf(ptr, len));
  },
  error(ptr, len) {
    if (current.error !== undefined) return;
    current.error = decoder.decode(bytesOf(ptr, Math.min(len, 64 * 1024)));
  },
};

/** The import object of one module: only what it imports, unknown WASI calls answer ENOSYS. */
function importsFor(module) {
  const wasiPart = {};
  const lambdaPart = {};
  for (const { module: from, name } of WebAssembly.Module.imports(module)) {
    if (from === 'wasi_snapshot_preview1') wasiPart[name] = wasi[name] ?? nosys;
    else if (from === 'lambda' && name in lambdaImports) lambdaPart[name] = lambdaImports[name];
  }
  return { wasi_snapshot_preview1: wasiPart, lambda: lambdaPart };
}

function reset(stdin, protocol) {
  current.memory = undefined;
  current.buffer = undefined;
  current.view = undefined;
  current.bytes = undefined;
  current.stdin = stdin;
  current.stdinAt = 0;
  current.protocol = protocol;
  current.stdout = [];
  current.stdoutBytes = 0;
  current.result = undefined;
  current.error = undefined;
  current.stderrTail = '';
}

function joinStdout() {
  const all = new Uint8Array(current.stdoutBytes);
  let at = 0;
  for (const chunk of current.stdout) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return decoder.decode(all);
}

function memoryBytes() {
  try {
    return current.memory ? current.memory.buffer.byteLength : 0;
  } catch {
    return 0;
  }
}

/**
 * The last panic Rust's default hook printed, old and new formats: "thread 'main' panicked at
 * 'boom', script.rs:3:5" (rustc < 1.73) and "thread 'main' panicked at script.rs:3:5:\nboom".
 */
function panicOf(stderr) {
  const old = /panicked at '([\s\S]*)', ([^\s:]+):(\d+):(\d+)/.exec(stderr);
  const now = old ? undefined : /panicked at ([^\s:]+):(\d+):(\d+):\n([^\n]*)/.exec(stderr);
  if (old) return { name: 'Panic', message: old[1], file: old[2], line: Number(old[3]), column: Number(old[4]) };
  if (now) return { name: 'Panic', message: now[4], file: now[1], line: Number(now[2]), column: Number(now[3]) };
  return undefined;
}

function outcomeOf(stop, trap) {
  if (current.error !== undefined) return { outcome: 'error', error: current.error };
  if (stop?.kind === 'output_limit') return { outcome: 'output_limit', bytes: stop.detail };
  if (trap !== undefined) {
    const message = trap instanceof Error ? trap.message : String(trap);
    const allocation = /memory allocation of \d+ bytes failed/.exec(current.stderrTail);
    if (allocation) return { outcome: 'memory', message: allocation[0] };
    // Instantiation itself could not get the module's memory.
    if (current.memory === undefined && trap instanceof RangeError && /memory/i.test(message)) return { outcome: 'memory', message };
    if (trap instanceof RangeError && /call stack/i.test(message)) {
      return { outcome: 'error', error: JSON.stringify({ name: 'StackOverflow', message: 'stack overflow (maximum call stack size exceeded)' }) };
    }
    // A Rust program (`fn main`, no entry point) that panicked: the standard hook printed where.
    const panic = current.protocol === 'wasm' ? panicOf(current.stderrTail) : undefined;
    if (panic) return { outcome: 'error', error: JSON.stringify(panic) };
    const name = trap instanceof WebAssembly.RuntimeError ? 'Trap' : (trap?.name ?? 'Error');
    return { outcome: 'error', error: JSON.stringify({ name, message: `WebAssembly trap: ${message}` }) };
  }
  if (current.protocol === 'rust') {
    if (current.result !== undefined) return { outcome: 'ok', result: current.result };
    const code = stop?.kind === 'exit' ? stop.detail : 0;
    return { outcome: 'error', error: JSON.stringify({ name: 'Exit', message: `the script exited (code ${code}) before returning a result` }) };
  }
  const code = stop?.kind === 'exit' ? stop.detail : 0;
  if (code !== 0) return { outcome: 'error', error: JSON.stringify({ name: 'Exit', message: `the module exited with code ${code}` }) };
  return { outcome: 'ok', result: joinStdout() };
}

function run(message) {
  for (const key of message.evict ?? []) modules.delete(key);
  let entry = modules.get(message.key);
  if (!entry && message.module) {
    const names = WebAssembly.Module.imports(message.module);
    entry = {
      module: message.module,
      imports: importsFor(message.module),
      protocol: names.some((i) => i.module === 'lambda') ? 'rust' : 'wasm',
    };
    modules.set(message.key, entry);
  }
  if (!entry) return { id: message.id, outcome: 'missing' };
  Atomics.store(logHeader, 0, 0);
  Atomics.store(logHeader, 1, 0);
  Atomics.store(logHeader, 2, 0);
  Atomics.store(logHeader, 3, 0);
  reset(encoder.encode(message.stdin), entry.protocol);
  const started = performance.now();
  let stop;
  let trap;
  try {
    const instance = new WebAssembly.Instance(entry.module, entry.imports);
    current.memory = instance.exports.memory;
    instance.exports._start();
  } catch (error) {
    if (error instanceof Stop) stop = error;
    else trap = error;
  }
  const durationMs = performance.now() - started;
  const reply = { id: message.id, durationMs, memoryBytes: memoryBytes(), ...outcomeOf(stop, trap) };
  // Drop what the instance held before waiting for the next message (the host reads the output).
  reset(new Uint8Array(0), 'wasm');
  return reply;
}

parentPort.on('message', (message) => {
  if (message?.type === 'run') parentPort.postMessage(run(message));
});
parentPort.postMessage({ type: 'ready' });
