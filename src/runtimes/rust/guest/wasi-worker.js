/**
 * The worker thread that runs WebAssembly modules for the Rust (WebAssembly) runtime, one
 * invocation at a time, each in a fresh instance of an already compiled `WebAssembly.Module`.
 *
 * It is a minimal WASI preview 1 written for this purpose (not `node:wasi`, which crashed on Node 20
 * after a few hundred runs of one module, and which offers far more than a script needs): stdin is
 * the event, stdout/stderr are captured, there are no preopened directories (so no file system at
 * all), an empty environment, no sockets, no processes. Every other WASI call answers an error code.
 *
 * Output goes into a SharedArrayBuffer the host reads, also after it has terminated this worker on
 * a timeout, so what a runaway script printed is not lost. Layout: Int32 header [stored bytes,
 * total bytes written (saturating), newlines written (saturating), 1 if the last byte written was a
 * newline], then the first bytes written.
 *
 * Messages in: { type: 'run', id, key, module?, evict?, stdin }. Out: { id, outcome, ... }.
 * Host code never imports this file; it is loaded by path.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const HEADER_BYTES = 16;
const INT32_MAX = 0x7fffffff;

const ERRNO = {
  SUCCESS: 0,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  IO: 29,
  NOSYS: 52,
  NOTSUP: 58,
  SPIPE: 70,
  NOTCAPABLE: 76,
};

const FILETYPE_CHARACTER_DEVICE = 2;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_PROCESS_CPUTIME = 2;
const CLOCK_THREAD_CPUTIME = 3;
const EVENTTYPE_CLOCK = 0;
const SUBCLOCKFLAGS_ABSTIME = 1;
const ARGS = ['script'];

const { logBuffer, maxResultBytes } = workerData;
const logHeader = new Int32Array(logBuffer, 0, 4);
const logBytes = new Uint8Array(logBuffer, HEADER_BYTES);
const logCapacity = logBytes.length;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Compiled modules this worker holds, by cache key; the host says which to drop. */
const modules = new Map();

/** Thrown out of an import to end the instance. */
class Stop extends Error {
  constructor(kind, detail) {
    super(kind);
    this.kind = kind;
    this.detail = detail;
  }
}

/** State of the one invocation running now. */
const current = {
  memory: undefined,
  view: undefined,
  bytes: undefined,
  buffer: undefined,
  stdin: new Uint8Array(0),
  stdinAt: 0,
  /** 'rust': stdout and stderr are logs, the result comes through `lambda.result`; 'wasm': stdout is the result. */
  protocol: 'wasm',
  stdout: [],
  stdoutBytes: 0,
  result: undefined,
  error: undefined,
  stderrTail: '',
};

function memory() {
  const buffer = current.memory.buffer;
  if (buffer !== current.buffer) {
    current.buffer = buffer;
    current.view = new DataView(buffer);
    current.bytes = new Uint8Array(buffer);
  }
  return current.view;
}

function bytesOf(ptr, len) {
  memory();
  if (ptr < 0 || len < 0 || ptr + len > current.bytes.length) throw new RangeError('out of bounds');
  return current.bytes.subarray(ptr, ptr + len);
}

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

function guarded(fn) {
  return (...args) => {
    try {
      return fn(...args);
    } catch (error) {
      if (error instanceof Stop) throw error;
      if (error instanceof RangeError || error instanceof TypeError) return ERRNO.FAULT;
      throw error;
    }
  };
}

function nowNs(clockId) {
  if (clockId === CLOCK_REALTIME) return BigInt(Date.now()) * 1_000_000n;
  if (clockId === CLOCK_MONOTONIC || clockId === CLOCK_PROCESS_CPUTIME || clockId === CLOCK_THREAD_CPUTIME) {
    return BigInt(Math.floor(performance.now() * 1000)) * 1000n;
  }
  return undefined;
}

function writeStrings(strings, ptrsPtr, bufPtr) {
  const view = memory();
  let at = bufPtr;
  strings.forEach((text, i) => {
    const data = encoder.encode(`${text}\0`);
    bytesOf(at, data.length).set(data);
    view.setUint32(ptrsPtr + i * 4, at, true);
    at += data.length;
  });
  return ERRNO.SUCCESS;
}

function sizesOf(strings, countPtr, sizePtr) {
  const view = memory();
  view.setUint32(countPtr, strings.length, true);
  view.setUint32(sizePtr, strings.reduce((sum, text) => sum + encoder.encode(text).length + 1, 0), true);
  return ERRNO.SUCCESS;
}

const wasi = {
  args_sizes_get: (countPtr, sizePtr) => sizesOf(ARGS, countPtr, sizePtr),
  args_get: (ptrsPtr, bufPtr) => writeStrings(ARGS, ptrsPtr, bufPtr),
  environ_sizes_get: (countPtr, sizePtr) => sizesOf([], countPtr, sizePtr),
  environ_get: () => ERRNO.SUCCESS,
  clock_res_get(clockId, resultPtr) {
    if (nowNs(clockId) === undefined) return ERRNO.INVAL;
    memory().setBigUint64(resultPtr, 1000n, true);
    return ERRNO.SUCCESS;
  },
  clock_time_get(clockId, _precision, resultPtr) {
    const now = nowNs(clockId);
    if (now === undefined) return ERRNO.INVAL;
    memory().setBigUint64(resultPtr, now, true);
    return ERRNO.SUCCESS;
  },
  fd_write(fd, iovs, iovsLen, writtenPtr) {
    if (fd !== 1 && fd !== 2) return ERRNO.BADF;
    const view = memory();
    let written = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      if (len === 0) continue;
      const chunk = bytesOf(ptr, len);
      if (fd === 1) writeStdout(chunk);
      else {
        rememberStderr(chunk);
        writeLog(chunk);
      }
      written += len;
    }
    view.setUint32(writtenPtr, written, true);
    return ERRNO.SUCCESS;
  },
  fd_read(fd, iovs, iovsLen, readPtr) {
    if (fd !== 0) return ERRNO.BADF;
    const view = memory();
    let read = 0;
    for (let i = 0; i < iovsLen && current.stdinAt < current.stdin.length; i++) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      const part = current.stdin.subarray(current.stdinAt, current.stdinAt + len);
      bytesOf(ptr, part.length).set(part);
      current.stdinAt += part.length;
      read += part.length;
    }
    view.setUint32(readPtr, read, true);
    return ERRNO.SUCCESS;
  },
  fd_pread: () => ERRNO.SPIPE,
  fd_pwrite: () => ERRNO.SPIPE,
  fd_seek: (fd) => (fd <= 2 ? ERRNO.SPIPE : ERRNO.BADF),
  fd_tell: (fd) => (fd <= 2 ? ERRNO.SPIPE : ERRNO.BADF),
  fd_close: (fd) => (fd <= 2 ? ERRNO.SUCCESS : ERRNO.BADF),
  fd_sync: (fd) => (fd <= 2 ? ERRNO.SUCCESS : ERRNO.BADF),
  fd_datasync: (fd) => (fd <= 2 ? ERRNO.SUCCESS : ERRNO.BADF),
  fd_fdstat_get(fd, statPtr) {
    if (fd > 2) return ERRNO.BADF;
    const view = memory();
    bytesOf(statPtr, 24).fill(0);
    view.setUint8(statPtr, FILETYPE_CHARACTER_DEVICE);
    // fd_read (bit 1) for stdin, fd_write (bit 6) for stdout/stderr.
    view.setBigUint64(statPtr + 8, fd === 0 ? 2n : 64n, true);
    return ERRNO.SUCCESS;
  },
  fd_fdstat_set_flags: (fd) => (fd <= 2 ? ERRNO.NOTSUP : ERRNO.BADF),
  fd_fdstat_set_rights: (fd) => (fd <= 2 ? ERRNO.NOTSUP : ERRNO.BADF),
  fd_filestat_get(fd, statPtr) {
    if (fd > 2) return ERRNO.BADF;
    bytesOf(statPtr, 64).fill(0);
    memory().setUint8(statPtr + 16, FILETYPE_CHARACTER_DEVICE);
    return ERRNO.SUCCESS;
  },
  // No preopened directories: this is what leaves a WASI program without any file system.
  fd_prestat_get: () => ERRNO.BADF,
  fd_prestat_dir_name: () => ERRNO.BADF,
  fd_readdir: () => ERRNO.BADF,
  fd_renumber: () => ERRNO.BADF,
  fd_allocate: () => ERRNO.BADF,
  fd_advise: () => ERRNO.BADF,
  fd_filestat_set_size: () => ERRNO.BADF,
  fd_filestat_set_times: () => ERRNO.BADF,
  path_open: () => ERRNO.NOTCAPABLE,
  path_create_directory: () => ERRNO.NOTCAPABLE,
  path_filestat_get: () => ERRNO.NOTCAPABLE,
  path_filestat_set_times: () => ERRNO.NOTCAPABLE,
  path_link: () => ERRNO.NOTCAPABLE,
  path_readlink: () => ERRNO.NOTCAPABLE,
  path_remove_directory: () => ERRNO.NOTCAPABLE,
  path_rename: () => ERRNO.NOTCAPABLE,
  path_symlink: () => ERRNO.NOTCAPABLE,
  path_unlink_file: () => ERRNO.NOTCAPABLE,
  poll_oneoff(inPtr, outPtr, count, eventsPtr) {
    // Clock subscriptions sleep (bounded by the invocation's wall-time limit, which terminates
    // this worker); fd subscriptions are always ready.
    const view = memory();
    let waitNs;
    let fdReady = false;
    for (let i = 0; i < count; i++) {
      const sub = inPtr + i * 48;
      if (view.getUint8(sub + 8) !== EVENTTYPE_CLOCK) {
        fdReady = true;
        continue;
      }
      const clockId = view.getUint32(sub + 16, true);
      let timeout = view.getBigUint64(sub + 24, true);
      if (view.getUint16(sub + 40, true) & SUBCLOCKFLAGS_ABSTIME) {
        const now = nowNs(clockId) ?? 0n;
        timeout = timeout > now ? timeout - now : 0n;
      }
      if (waitNs === undefined || timeout < waitNs) waitNs = timeout;
    }
    if (!fdReady && waitNs !== undefined && waitNs > 0n) Atomics.wait(sleeper, 0, 0, Number(waitNs / 1_000_000n) + 1);
    let events = 0;
    for (let i = 0; i < count; i++) {
      const sub = inPtr + i * 48;
      const out = outPtr + events * 32;
      const type = view.getUint8(sub + 8);
      bytesOf(out, 32).fill(0);
      view.setBigUint64(out, view.getBigUint64(sub, true), true);
      view.setUint8(out + 10, type);
      if (type !== EVENTTYPE_CLOCK) view.setUint16(out + 8, view.getUint32(sub + 16, true) <= 2 ? ERRNO.SUCCESS : ERRNO.BADF, true);
      events++;
    }
    view.setUint32(eventsPtr, events, true);
    return ERRNO.SUCCESS;
  },
  proc_exit(code) {
    throw new Stop('exit', code);
  },
  proc_raise: () => ERRNO.NOSYS,
  sched_yield: () => ERRNO.SUCCESS,
  random_get(ptr, len) {
    randomFillSync(bytesOf(ptr, len));
    return ERRNO.SUCCESS;
  },
  sock_accept: () => ERRNO.NOTSUP,
  sock_recv: () => ERRNO.NOTSUP,
  sock_send: () => ERRNO.NOTSUP,
  sock_shutdown: () => ERRNO.NOTSUP,
};

const wasiImports = {};
for (const [name, fn] of Object.entries(wasi)) wasiImports[name] = guarded(fn);
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
    if (from === 'wasi_snapshot_preview1') wasiPart[name] = wasiImports[name] ?? nosys;
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
