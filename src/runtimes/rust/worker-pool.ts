/**
 * A fixed pool of worker threads (`guest/wasi-worker.js`) that run WebAssembly modules, one call per
 * worker at a time, each in a fresh instance. The host owns every deadline: a call over its time
 * terminates its worker (V8 stops wasm code at loop back-edges), which is replaced; the others go
 * on. A compiled module is posted to a worker once and kept there (bounded; the host says what to
 * drop).
 */
import { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';

import type { Config } from '../../config/config.js';
import { projectPath } from '../../config/paths.js';
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import { DeadlineQueue } from '../kit/deadline-queue.js';
import { roundMs } from '../kit/invocation.js';
import type { OutputLimits } from '../kit/output-limits.js';
import type { InvocationResult, InvocationStats } from '../runtime.js';
import { collectLogs, newLogBuffer, parseResult, toScriptError } from './wasm-results.js';

/** The `rust` settings the pool uses (src/config/schema.ts), and the output limits. */
export type WorkerPoolOptions = Pick<Config['rust'], 'poolSize' | 'memoryLimitMb' | 'workerHeapMb' | 'modulesPerWorker'> & OutputLimits & { readonly logger: Logger };

const WORKER_PATH = projectPath('src', 'runtimes', 'rust', 'guest', 'wasi-worker.js');

export interface WasmJob {
  readonly key: string;
  readonly module: WebAssembly.Module;
  readonly stdin: string;
  readonly timeoutMs: number;
  /** Lines of the user's Rust script: an error placed beyond them is in the entry point. */
  readonly userLines: number;
}

/** How a call ended: a worker's reply to `run`, or what the pool saw (`timeout`, `crashed`, a heap `memory`). */
type End = Partial<{ id: number; outcome: string; result: string; error: string; message: string; bytes: number; durationMs: number; memoryBytes: number }>;

interface Call {
  readonly id: number;
  readonly job: WasmJob;
  readonly resolve: (result: InvocationResult) => void;
  readonly reject: (error: unknown) => void;
  started: number;
  timer?: NodeJS.Timeout;
  resent: boolean;
}

interface Slot {
  readonly worker: Worker;
  readonly logBuffer: SharedArrayBuffer;
  /** Modules this worker holds; one that leaves is put in `evict`, which the next call hands the worker. */
  readonly known: LRUCache<string, true>;
  readonly evict: string[];
  call: Call | undefined;
}

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  /** The live workers: one that died, was replaced or was ended by a stop is no longer here. */
  #slots: Slot[] = [];
  readonly #queue = new DeadlineQueue<Call, Slot>();
  #nextCallId = 1;
  #restarts = 0;

  constructor(options: WorkerPoolOptions) {
    this.#o = options;
  }

  /** Resolves when every worker has sent its first message (`ready`); rejects when one fails or exits first. */
  async start(): Promise<void> {
    const ready = ({ worker }: Slot): Promise<void> =>
      new Promise((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code: number) => reject(new Error(`worker exited with code ${code} while starting`)));
      });
    await Promise.all(Array.from({ length: this.#o.poolSize }, () => ready(this.#spawn())));
  }

  get stats(): { workers: number; busy: number; queued: number; restarts: number } {
    return { workers: this.#slots.length, busy: this.#slots.filter((s) => s.call).length, queued: this.#queue.length, restarts: this.#restarts };
  }

  /** Runs one call; waits for a free worker at most the call's own time limit (else RUNTIME_UNAVAILABLE). */
  run(job: WasmJob): Promise<InvocationResult> {
    return new Promise((resolve, reject) => {
      const call: Call = { id: this.#nextCallId++, job, resolve, reject, started: 0, resent: false };
      const free = this.#slots.find((s) => !s.call);
      if (free) return this.#begin(free, call);
      const busy = (queued: number): ServiceError => new ServiceError('RUNTIME_UNAVAILABLE', `every WebAssembly worker stayed busy for ${job.timeoutMs} ms`, { queued });
      // #handOut begins the call when a worker is free; the queue only says when it waited too long.
      this.#queue.wait(call, job.timeoutMs, busy).catch(reject);
    });
  }

  /** The module under `key` left the host's cache: every worker drops it with its next call. */
  forget(key: string): void {
    for (const slot of this.#slots) slot.known.delete(key);
  }

  /** Terminates every worker; running and queued calls end with RUNTIME_UNAVAILABLE. */
  async stop(reason: string): Promise<void> {
    const stopped = new ServiceError('RUNTIME_UNAVAILABLE', reason);
    this.#queue.rejectAll(() => stopped);
    await Promise.all(
      this.#slots.splice(0).map((slot) => {
        clearTimeout(slot.call?.timer);
        slot.call?.reject(stopped);
        return slot.worker.terminate().catch(() => undefined);
      }),
    );
  }

  #spawn(): Slot {
    const logBuffer = newLogBuffer(this.#o);
    const worker = new Worker(WORKER_PATH, {
      workerData: { logBuffer, maxResultBytes: this.#o.maxResultBytes },
      // No loaders or flags of the host process, no copy of its environment, no inherited stdio.
      execArgv: [],
      env: {},
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: this.#o.workerHeapMb, maxYoungGenerationSizeMb: Math.floor(this.#o.workerHeapMb / 4), stackSizeMb: 4 },
    });
    worker.stdout.resume();
    worker.stderr.resume();
    const evict: string[] = [];
    const known = new LRUCache<string, true>({ max: this.#o.modulesPerWorker, dispose: (_, key) => evict.push(key) });
    const slot: Slot = { worker, logBuffer, known, evict, call: undefined };
    worker.on('message', (reply: End) => this.#onReply(slot, reply));
    worker.on('error', (error: Error & { code?: string }) => this.#onDeath(slot, error));
    worker.on('exit', (code) => this.#onDeath(slot, new Error(`worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  #begin(slot: Slot, call: Call): void {
    slot.call = call;
    call.started = performance.now();
    call.timer = setTimeout(() => {
      if (slot.call === call) this.#lose(slot, { outcome: 'timeout' });
    }, call.job.timeoutMs);
    this.#post(slot, call);
  }

  /** Sends the call to its worker, with the module unless the worker holds it (and again when it said it lost it). */
  #post(slot: Slot, call: Call): void {
    const { key, module, stdin } = call.job;
    const send = call.resent || !slot.known.has(key);
    slot.known.set(key, true);
    const evict = slot.evict.splice(0).filter((k) => k !== key);
    slot.worker.postMessage({ type: 'run', id: call.id, key, stdin, evict, ...(send ? { module } : {}) });
  }

  #onReply(slot: Slot, reply: End): void {
    const call = slot.call;
    if (!call || reply.id !== call.id) return;
    if (reply.outcome === 'missing' && !call.resent) {
      call.resent = true;
      return this.#post(slot, call);
    }
    this.#finish(slot);
    try {
      call.resolve(this.#result(call, reply, collectLogs(slot.logBuffer, this.#o)));
    } catch (error) {
      call.reject(error);
    }
    this.#handOut(slot);
  }

  #onDeath(slot: Slot, error: Error & { code?: string }): void {
    if (!this.#slots.includes(slot)) return;
    const heap = slot.call !== undefined && error.code === 'ERR_WORKER_OUT_OF_MEMORY';
    if (!heap) this.#o.logger.warn({ err: error, worker: slot.worker.threadId }, slot.call ? 'rust runtime: a worker died during a call; replaced' : 'rust runtime: idle worker died; replaced');
    this.#lose(slot, heap ? { outcome: 'memory', message: `the worker's heap limit (${this.#o.workerHeapMb} MiB) was reached` } : { outcome: 'crashed', message: error.message });
  }

  /** Ends the worker's call with `end` (what it printed read first, before the worker goes), and replaces the worker unless it is gone already (replaced, or ended by a stop). */
  #lose(slot: Slot, end: End): void {
    const call = slot.call;
    const logs = call ? collectLogs(slot.logBuffer, this.#o) : [];
    this.#finish(slot);
    if (this.#slots.includes(slot)) {
      slot.worker.terminate().catch(() => undefined);
      this.#slots = this.#slots.filter((s) => s !== slot);
      this.#restarts++;
      this.#handOut(this.#spawn());
    }
    call?.resolve(this.#result(call, end, logs));
  }

  #finish(slot: Slot): void {
    clearTimeout(slot.call?.timer);
    slot.call = undefined;
  }

  /** Gives a free worker (one just spawned, or one whose call just ended) to the oldest queued call. */
  #handOut(slot: Slot): void {
    const call = this.#queue.oldest();
    if (call && this.#queue.handOldest(slot)) this.#begin(slot, call);
  }

  #result(call: Call, end: End, logs: readonly string[]): InvocationResult {
    const stats: InvocationStats = { durationMs: roundMs(end.durationMs ?? performance.now() - call.started), ...(end.memoryBytes ? { memoryUsageBytes: end.memoryBytes } : {}) };
    const { maxResultBytes, memoryLimitMb } = this.#o;
    switch (end.outcome) {
      case 'ok':
        return parseResult(end.result ?? '', logs, stats);
      case 'error':
        return { status: 'error', error: toScriptError(end.error ?? '{}', call.job.userLines), logs, stats };
      case 'memory':
        return { status: 'memory_limit', limitBytes: memoryLimitMb * 1024 * 1024, message: `script exceeded the memory limit of ${memoryLimitMb} MiB: ${end.message ?? ''}`, logs, stats };
      case 'output_limit': {
        const size = (end.bytes ?? 0) > maxResultBytes ? `more than ${maxResultBytes}` : (end.bytes ?? 0);
        return { status: 'output_limit', limitBytes: maxResultBytes, message: `result is ${size} bytes of JSON, over the limit of ${maxResultBytes} bytes`, logs, stats };
      }
      case 'timeout':
        return { status: 'timeout', limitMs: call.job.timeoutMs, logs, stats };
      case 'crashed':
        return { status: 'error', error: { name: 'WorkerCrash', message: `the invocation ended its worker: ${end.message ?? ''}` }, logs, stats };
      case 'missing':
        throw new Error('the worker did not keep the module it was sent');
      default:
        throw new Error(`unexpected worker reply ${JSON.stringify(end).slice(0, 200)}`);
    }
  }
}
