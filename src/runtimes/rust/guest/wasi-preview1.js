/**
 * WASI preview 1 as the WebAssembly worker (wasi-worker.js) offers it, written for this purpose
 * (not `node:wasi`, which crashed on Node 20 after a few hundred runs of one module, and which
 * offers far more than a script needs): stdin is the event, stdout and stderr go where the worker
 * says, there are no preopened directories (so no file system at all), an empty environment, no
 * sockets, no processes. Every other WASI call answers an error code.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export const ERRNO = {
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
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const encoder = new TextEncoder();

/** Thrown out of an import to end the instance. */
export class Stop extends Error {
  constructor(kind, detail) {
    super(kind);
    this.kind = kind;
    this.detail = detail;
  }
}

/** State of the one invocation running now. */
export const current = {
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

export function memory() {
  const buffer = current.memory.buffer;
  if (buffer !== current.buffer) {
    current.buffer = buffer;
    current.view = new DataView(buffer);
    current.bytes = new Uint8Array(buffer);
  }
  return current.view;
}

export function bytesOf(ptr, len) {
  memory();
  if (ptr < 0 || len < 0 || ptr + len > current.bytes.length) throw new RangeError('out of bounds');
  return current.bytes.subarray(ptr, ptr + len);
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

/** The WASI imports, each turning a fault of the module (a bad pointer) into EFAULT; `io` takes what it writes to stdout and stderr. */
export function wasiImports(io) {
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
        if (fd === 1) io.stdout(chunk);
        else {
          io.stderr(chunk);
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


  const imports = {};
  for (const [name, fn] of Object.entries(wasi)) imports[name] = guarded(fn);
  return imports;
}
