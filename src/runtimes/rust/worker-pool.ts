/**
 * A fixed pool of worker threads (`guest/wasi-worker.js`) that run WebAssembly modules, one
 * invocation per worker at a time, each in a fresh instance. The host owns every deadline: a call
 * over its wall-time limit terminates its worker (V8 stops wasm code at loop back-edges), which is
 * replaced; the other workers go on. Compiled modules are posted to a worker once and kept there
 * (bounded; the host tells the worker what to drop).
 *
 * What a script prints is written by the worker into a SharedArrayBuffer per worker, so the host
 * still has it after terminating the worker on a timeout.
 */
import { IdleWaiters } from '../../common/idle.js';
import { DeadlineQueue } from '../kit/deadline-queue.js';
import { Worker } from 'node:worker_threads';

import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';

export interface WorkerPoolOptions {
  readonly logger: Logger;
  readonly workerPath: string;
  readonly size: number;
  /** Bytes of output kept per invocation (the shared log buffer's size). */
  readonly logCapacityBytes: number;
  readonly maxResultBytes: number;
  /** V8 heap of each worker, in MiB (the WebAssembly memory is outside it and capped separately). */
  readonly workerHeapMb: number;
  /** Compiled modules kept per worker. */
  readonly modulesPerWorker: number;
}

export interface WasmJob {
  readonly key: string;
  readonly module: WebAssembly.Module;
  readonly stdin: string;
  readonly timeoutMs: number;
}

/** What a worker wrote to stdout/stderr (in the order written), as far as it was kept. */
export interface RawOutput {
  readonly bytes: Uint8Array;
  /** Bytes written in all, kept or not. */
  readonly totalBytes: number;
  readonly newlines: number;
  /** The last byte written was a newline (so no line is left open). */
  readonly endsWithNewline: boolean;
}

export type JobOutcome = (
  | { readonly kind: 'ok'; readonly result: string }
  | { readonly kind: 'error'; readonly error: string }
  | { readonly kind: 'memory'; readonly message: string }
  | { readonly kind: 'output_limit'; readonly bytes: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'crashed'; readonly message: string }
) & { readonly output: RawOutput; readonly durationMs: number; readonly memoryBytes?: number };

interface WorkerReply {
  id?: number;
  type?: string;
  outcome?: 'ok' | 'error' | 'memory' | 'output_limit' | 'missing';
  result?: string;
  error?: string;
  message?: string;
  bytes?: number;
  durationMs?: number;
  memoryBytes?: number;
}

interface Pending {
  readonly id: number;
  readonly job: WasmJob;
  readonly started: number;
  readonly resolve: (outcome: JobOutcome) => void;
  readonly reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  resent: boolean;
}

interface Slot {
  readonly id: number;
  readonly worker: Worker;
  readonly logBuffer: SharedArrayBuffer;
  /** Modules this worker holds, least recently used first. */
  readonly known: Map<string, true>;
  readonly evict: string[];
  pending: Pending | undefined;
  dead: boolean;
}

const HEADER_BYTES = 16;

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  #slots: Slot[] = [];
  readonly #queue = new DeadlineQueue<undefined, Slot>();
  #nextSlotId = 1;
  #nextJobId = 1;
  #running = false;
  #restarts = 0;
  readonly #idle = new IdleWaiters();

  constructor(options: WorkerPoolOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    this.#running = true;
    const ready = Array.from({ length: this.#o.size }, () => this.#spawn());
    await Promise.all(ready.map((slot) => waitReady(slot.worker)));
  }

  get stats(): { workers: number; busy: number; queued: number; restarts: number } {
    return { workers: this.#slots.length, busy: this.#slots.filter((s) => s.pending).length, queued: this.#queue.length, restarts: this.#restarts };
  }

  /** Runs one invocation; waits at most `maxWaitMs` for a free worker (else RUNTIME_UNAVAILABLE). */
  async run(job: WasmJob, maxWaitMs: number): Promise<JobOutcome> {
    const slot = await this.#acquire(maxWaitMs);
    if (slot.dead) throw new ServiceError('RUNTIME_UNAVAILABLE', 'the Rust runtime is stopping');
    return new Promise<JobOutcome>((resolve, reject) => {
      const pending: Pending = { id: this.#nextJobId++, job, started: performance.now(), resolve, reject, timer: undefined, resent: false };
      slot.pending = pending;
      pending.timer = setTimeout(() => this.#timeout(slot, pending), job.timeoutMs);
      this.#post(slot, pending, false);
    });
  }

  /** The module under `key` is gone from the host's cache: workers drop it with their next call. */
  forget(key: string): void {
    for (const slot of this.#slots) {
      if (slot.known.delete(key)) slot.evict.push(key);
    }
  }

  /** Resolves when no call is running (or at once). */
  whenIdle(): Promise<void> {
    if (!this.#slots.some((s) => s.pending)) return Promise.resolve();
    return this.#idle.next();
  }

  /** Terminates every worker; running and queued calls end with RUNTIME_UNAVAILABLE. */
  async stop(reason: string): Promise<void> {
    this.#running = false;
    this.#queue.rejectAll(() => new ServiceError('RUNTIME_UNAVAILABLE', reason));
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(
      slots.map(async (slot) => {
        slot.dead = true;
        const pending = slot.pending;
        slot.pending = undefined;
        if (pending) {
          clearTimeout(pending.timer);
          pending.reject(new ServiceError('RUNTIME_UNAVAILABLE', reason));
        }
        await slot.worker.terminate().catch(() => undefined);
      }),
    );
    this.#idle.notify();
  }

  // ---- internals ---------------------------------------------------------------------------------

  #spawn(): Slot {
    const logBuffer = new SharedArrayBuffer(HEADER_BYTES + this.#o.logCapacityBytes);
    const worker = new Worker(this.#o.workerPath, {
      workerData: { logBuffer, maxResultBytes: this.#o.maxResultBytes },
      // No loaders or flags of the host process, no copy of its environment, no inherited stdio.
      execArgv: [],
      env: {},
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: this.#o.workerHeapMb, maxYoungGenerationSizeMb: Math.max(4, Math.floor(this.#o.workerHeapMb / 4)), stackSizeMb: 4 },
    });
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { id: this.#nextSlotId++, worker, logBuffer, known: new Map(), evict: [], pending: undefined, dead: false };
    worker.on('message', (reply: WorkerReply) => this.#onReply(slot, reply));
    worker.on('error', (error: Error & { code?: string }) => this.#onDeath(slot, error));
    worker.on('exit', (code) => this.#onDeath(slot, new Error(`worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  #post(slot: Slot, pending: Pending, forceModule: boolean): void {
    const { key, module, stdin } = pending.job;
    const send = forceModule || !slot.known.has(key);
    slot.known.delete(key);
    slot.known.set(key, true);
    while (slot.known.size > this.#o.modulesPerWorker) {
      const oldest = slot.known.keys().next().value;
      if (oldest === undefined) break;
      slot.known.delete(oldest);
      slot.evict.push(oldest);
    }
    const evict = slot.evict.splice(0).filter((k) => k !== key);
    slot.worker.postMessage({ type: 'run', id: pending.id, key, stdin, evict, ...(send ? { module } : {}) });
  }

  #onReply(slot: Slot, reply: WorkerReply): void {
    const pending = slot.pending;
    if (!pending || reply.id !== pending.id) return;
    if (reply.outcome === 'missing') {
      if (!pending.resent) {
        pending.resent = true;
        this.#post(slot, pending, true);
        return;
      }
      this.#finish(slot, pending);
      pending.reject(new Error('the worker did not keep the module it was sent'));
      return;
    }
    this.#finish(slot, pending);
    const base = { output: this.#readOutput(slot), durationMs: reply.durationMs ?? performance.now() - pending.started, ...(reply.memoryBytes ? { memoryBytes: reply.memoryBytes } : {}) };
    switch (reply.outcome) {
      case 'ok':
        pending.resolve({ kind: 'ok', result: reply.result ?? '', ...base });
        break;
      case 'error':
        pending.resolve({ kind: 'error', error: reply.error ?? '{}', ...base });
        break;
      case 'memory':
        pending.resolve({ kind: 'memory', message: reply.message ?? '', ...base });
        break;
      case 'output_limit':
        pending.resolve({ kind: 'output_limit', bytes: reply.bytes ?? 0, ...base });
        break;
      default:
        pending.reject(new Error(`unexpected worker reply ${JSON.stringify(reply).slice(0, 200)}`));
    }
    this.#release(slot);
  }

  #timeout(slot: Slot, pending: Pending): void {
    if (slot.pending !== pending) return;
    // Read what it printed before the worker goes; then end it and put a fresh one in its place.
    const output = this.#readOutput(slot);
    this.#finish(slot, pending);
    this.#replace(slot);
    pending.resolve({ kind: 'timeout', output, durationMs: performance.now() - pending.started });
  }

  #onDeath(slot: Slot, error: Error & { code?: string }): void {
    if (slot.dead) return;
    const pending = slot.pending;
    const output = this.#readOutput(slot);
    if (pending) this.#finish(slot, pending);
    this.#replace(slot);
    if (!pending) {
      this.#o.logger.warn({ err: error, worker: slot.id }, 'rust runtime: idle worker died; replaced');
      return;
    }
    const durationMs = performance.now() - pending.started;
    if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      pending.resolve({ kind: 'memory', message: `the worker's heap limit (${this.#o.workerHeapMb} MiB) was reached`, output, durationMs });
    } else {
      this.#o.logger.warn({ err: error, worker: slot.id }, 'rust runtime: a worker died during a call; replaced');
      pending.resolve({ kind: 'crashed', message: error.message, output, durationMs });
    }
  }

  #finish(slot: Slot, pending: Pending): void {
    clearTimeout(pending.timer);
    if (slot.pending === pending) slot.pending = undefined;
  }

  #replace(slot: Slot): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.worker.terminate().catch(() => undefined);
    const index = this.#slots.indexOf(slot);
    if (index !== -1) this.#slots.splice(index, 1);
    if (!this.#running) return;
    this.#restarts++;
    const fresh = this.#spawn();
    this.#handOut(fresh);
  }

  #readOutput(slot: Slot): RawOutput {
    const header = new Int32Array(slot.logBuffer, 0, 4);
    const stored = Math.min(Atomics.load(header, 0), slot.logBuffer.byteLength - HEADER_BYTES);
    const bytes = new Uint8Array(stored);
    bytes.set(new Uint8Array(slot.logBuffer, HEADER_BYTES, stored));
    return { bytes, totalBytes: Atomics.load(header, 1), newlines: Atomics.load(header, 2), endsWithNewline: Atomics.load(header, 3) === 1 };
  }

  #acquire(maxWaitMs: number): Promise<Slot> {
    if (!this.#running) return Promise.reject(new ServiceError('RUNTIME_UNAVAILABLE', 'the Rust runtime is stopping'));
    const free = this.#slots.find((s) => !s.pending && !s.dead);
    if (free) {
      free.pending = PLACEHOLDER;
      return Promise.resolve(free);
    }
    return this.#queue.wait(undefined, maxWaitMs, (queued) => new ServiceError('RUNTIME_UNAVAILABLE', `every WebAssembly worker stayed busy for ${maxWaitMs} ms`, { queued }));
  }

  #release(slot: Slot): void {
    this.#handOut(slot);
  }

  /** Gives a free worker to the oldest queued call, or records that nothing runs. */
  #handOut(slot: Slot): void {
    if (slot.dead || slot.pending) return;
    if (this.#queue.length > 0) {
      slot.pending = PLACEHOLDER;
      this.#queue.handOldest(slot);
      return;
    }
    if (this.#idle.waiting && !this.#slots.some((s) => s.pending)) this.#idle.notify();
  }
}

/** Marks a worker taken between `#acquire` and the job being posted. */
const PLACEHOLDER: Pending = {
  id: 0,
  job: { key: '', module: undefined as unknown as WebAssembly.Module, stdin: '', timeoutMs: 0 },
  started: 0,
  resolve: () => undefined,
  reject: () => undefined,
  timer: undefined,
  resent: false,
};

function waitReady(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type?: string }): void => {
      if (message?.type !== 'ready') return;
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`worker exited with code ${code} while starting`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
