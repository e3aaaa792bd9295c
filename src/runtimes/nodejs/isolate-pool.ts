/**
 * The isolates: `poolSize` kept warm, more up to `maxPoolSize` while all are busy (disposed after
 * `idleIsolateMs` idle), a dead one replaced. A call that finds no isolate waits, oldest first, at
 * most its own time limit. The host's deadline of a call is kept here: missing it costs the
 * isolate.
 */
import { performance } from 'node:perf_hooks';
import ivm from 'isolated-vm';

import type { Config } from '../../config/config.js';
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import { DeadlineQueue } from '../kit/deadline-queue.js';
import { errorMessage } from '../kit/invocation.js';
import type { Lifecycle } from '../kit/lifecycle.js';
import type { Conduct, PipelineSlot, PipeliningPolicy } from './pipelining.js';
import type { WarmContexts } from './warm-contexts.js';

/** isolated-vm's `timeout` cannot see a promise that never settles: this long after the limit the guest is asked to abort it... */
const ABORT_GRACE_MS = 50;
/** ...and if the isolate does not even answer that, it is disposed and replaced. */
export const DISPOSE_GRACE_MS = 250;
/** Heap statistics take the isolate's lock (≈15 µs). */
const HEAP_SAMPLE_MS = 100;

type DisposeReason = 'memory' | 'timeout' | 'stop' | 'idle';

/** What went wrong in an isolate, read from the error isolated-vm raised. */
export type Failure = { kind: 'timeout' } | { kind: 'memory'; message: string } | { kind: 'internal'; error: unknown };

/** The host-side deadline passed and the isolate was disposed. */
class HardTimeout extends Error {}

export class IsolateSlot implements PipelineSlot {
  /** Calls (and prepares) running or queued on this isolate. */
  inFlight = 0;
  /** Sum of their time limits: how long a call queued here now may wait to start. */
  inFlightLimitMs = 0;
  pipelineKey: string | undefined;
  disposeReason: DisposeReason | undefined;
  idleSince = performance.now();
  #heapUsed = 0;
  #heapSampledAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly id: number,
    readonly isolate: ivm.Isolate,
    readonly contexts: WarmContexts,
  ) {}

  get alive(): boolean {
    return this.disposeReason === undefined && !this.isolate.isDisposed;
  }

  heapUsed(): number | undefined {
    const now = performance.now();
    if (now - this.#heapSampledAt >= HEAP_SAMPLE_MS && this.alive) {
      try {
        this.#heapUsed = this.isolate.getHeapStatisticsSync().used_heap_size;
        this.#heapSampledAt = now;
      } catch {
        return undefined;
      }
    }
    return this.#heapUsed;
  }
}

/** A call to place: its warm context (none for a prepare), its session's conduct, its time limit. */
export type Waiter = Readonly<{ key: string | undefined; conduct: Conduct | undefined; limitMs: number; scriptHash?: string }>;

export type IsolatePoolOptions = Pick<Config['nodejs'], 'poolSize' | 'maxPoolSize' | 'memoryLimitMb' | 'contextsPerIsolate' | 'idleIsolateMs'> & {
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly policy: PipeliningPolicy;
  readonly contexts: (isolate: ivm.Isolate) => WarmContexts;
  /** Prepares a spare isolate for the sessions to come (the runtime runs recent scripts in it once). */
  readonly warm?: (slot: IsolateSlot) => Promise<void>;
};

export class IsolatePool {
  readonly #o: IsolatePoolOptions;
  readonly #slots: IsolateSlot[] = [];
  #nextId = 1;
  readonly #queue = new DeadlineQueue<Waiter, IsolateSlot>();
  #restarts = 0;
  /** Spare isolates being warmed up (one at a time), and whether a call asked for one. */
  #warming = 0;
  #spareWanted = false;
  #reaper: NodeJS.Timeout | undefined;
  #catastrophic: string | undefined;

  constructor(options: IsolatePoolOptions) {
    this.#o = options;
  }

  get slots(): readonly IsolateSlot[] {
    return this.#slots;
  }

  /** Why isolated-vm lost control of an isolate, if it did: the process is no longer trustworthy. */
  get catastrophic(): string | undefined {
    return this.#catastrophic;
  }

  async start(): Promise<void> {
    try {
      for (let i = 0; i < this.#o.poolSize; i++) this.#add();
      // A broken guest fails the start, not every call.
      await this.#slots[0]?.contexts.bootstrap();
    } catch (error) {
      this.disposeAll();
      throw error;
    }
    this.#reaper = setInterval(() => this.#reap(), Math.min(this.#o.idleIsolateMs, 30_000)).unref();
  }

  /** Refuses the waiting calls and stops reaping; running calls keep their isolates. */
  close(): void {
    clearInterval(this.#reaper);
    this.#queue.rejectAll(() => this.#o.lifecycle.unavailable());
  }

  disposeAll(): void {
    for (const slot of this.#slots.splice(0)) this.#dispose(slot, 'stop');
  }

  details(): Record<string, unknown> {
    const sum = (of: (slot: IsolateSlot) => number): number => this.#slots.reduce((total, slot) => total + of(slot), 0);
    return {
      isolates: this.#slots.length,
      busy: sum((slot) => (slot.inFlight > 0 ? 1 : 0)),
      inFlight: sum((slot) => slot.inFlight),
      queued: this.#queue.length,
      restarts: this.#restarts,
      contexts: sum((slot) => slot.contexts.size),
      perIsolate: this.#slots.map((slot) => ({ id: slot.id, inFlight: slot.inFlight, pipelined: slot.pipelineKey !== undefined, contexts: slot.contexts.size })),
    };
  }

  /**
   * Runs `body` on the isolate placed for the call: at once (no turn of the event loop) unless
   * calls wait already. One that waits over `maxWaitMs` is refused: the runtime is saturated, not
   * the script at fault.
   */
  async run<T>(waiter: Waiter, maxWaitMs: number, body: (slot: IsolateSlot) => Promise<T>): Promise<T> {
    this.#o.lifecycle.assertRunning();
    let slot = this.#queue.length === 0 ? this.#place(waiter) : undefined;
    if (!slot) {
      const busy = (queued: number): ServiceError => new ServiceError('RUNTIME_UNAVAILABLE', `every Node.js isolate stayed busy for ${maxWaitMs} ms`, { queued });
      // A call that leaves may have been what kept later ones from joining pipelines.
      const waiting = this.#queue.wait(waiter, maxWaitMs, busy, () => this.#dispatch());
      this.#dispatch();
      slot = await waiting;
    }
    try {
      return await body(slot);
    } finally {
      slot.inFlight -= 1;
      slot.inFlightLimitMs -= waiter.limitMs;
      if (slot.inFlight === 0) {
        slot.pipelineKey = undefined;
        slot.idleSince = performance.now();
        if (!slot.alive) this.#retire(slot);
      }
      if (this.#queue.length > 0) this.#dispatch();
      if (this.#spareWanted) {
        this.#spareWanted = false;
        this.#addSpare();
      }
    }
  }

  /**
   * `work` (calls into `slot`) under the host's deadline: past `limitMs + ABORT_GRACE_MS`
   * `onSoftDeadline` asks the guest to end a pending invocation, and a call still unsettled
   * DISPOSE_GRACE_MS later costs the isolate. `queuedAheadMs` (limits of the calls ahead in a
   * pipeline) delays only that last step.
   */
  guard<T>(slot: IsolateSlot, limitMs: number, work: Promise<T>, onSoftDeadline: () => void, queuedAheadMs = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let hardTimer: NodeJS.Timeout | undefined;
      const softTimer = setTimeout(() => {
        onSoftDeadline();
        hardTimer = setTimeout(() => {
          this.#o.logger.warn({ slot: slot.id, limitMs, queuedAheadMs }, 'nodejs runtime: call did not end after its timeout; disposing its isolate');
          this.#dispose(slot, 'timeout');
          reject(new HardTimeout('call did not settle after its deadline'));
        }, DISPOSE_GRACE_MS + queuedAheadMs);
      }, limitMs + ABORT_GRACE_MS);
      // Whichever settles first wins (a promise settles once).
      work.then(resolve, reject).finally(() => {
        clearTimeout(softTimer);
        clearTimeout(hardTimer);
      });
    });
  }

  /** Throws RUNTIME_UNAVAILABLE when the isolate went because the runtime stops. */
  classify(slot: IsolateSlot, error: unknown): Failure {
    if (slot.disposeReason === 'stop' || (!this.#o.lifecycle.running && slot.isolate.isDisposed)) throw this.#o.lifecycle.unavailable();
    if (slot.disposeReason === 'timeout' || error instanceof HardTimeout) return { kind: 'timeout' };
    const message = errorMessage(error);
    if (message.includes('memory limit') || slot.disposeReason === 'memory' || slot.isolate.isDisposed) {
      this.#dispose(slot, 'memory'); // isolated-vm has disposed it already
      return { kind: 'memory', message };
    }
    return message === 'Script execution timed out.' ? { kind: 'timeout' } : { kind: 'internal', error };
  }

  /** A busy isolate is retired when its last call returns, an idle one now. */
  #dispose(slot: IsolateSlot, reason: DisposeReason): void {
    slot.disposeReason ??= reason;
    if (reason !== 'stop' && reason !== 'idle') this.#o.logger.warn({ slot: slot.id, reason: slot.disposeReason }, 'nodejs runtime: isolate disposed, replacing it');
    try {
      if (!slot.isolate.isDisposed) slot.isolate.dispose();
    } catch (error) {
      this.#o.logger.debug({ err: error }, 'nodejs runtime: dispose failed');
    }
    if (slot.inFlight === 0) this.#retire(slot);
  }

  #add(): IsolateSlot {
    const id = this.#nextId++;
    const onCatastrophicError = (message: string): void => {
      this.#catastrophic = message;
      this.#o.logger.fatal({ slot: id, message }, 'nodejs runtime: catastrophic isolate failure');
    };
    const isolate = new ivm.Isolate({ memoryLimit: this.#o.memoryLimitMb, onCatastrophicError });
    const slot = new IsolateSlot(id, isolate, this.#o.contexts(isolate));
    this.#slots.push(slot);
    return slot;
  }

  /**
   * A hot call joins its pipeline (pipelining.ts); otherwise an idle isolate: the one holding the
   * call's context (pipelined there if hot), else one that built a context of its script ahead,
   * else one with room for a context (the emptiest), else a new one, else the least recently used.
   */
  #place(waiter: Waiter): IsolateSlot | undefined {
    const { key, conduct, limitMs } = waiter;
    const hot = key !== undefined && this.#o.policy.isHot(conduct);
    const chosen = (hot ? this.#o.policy.pipelineFor(this.#slots, key) : undefined) ?? this.#idle(key, waiter.scriptHash);
    if (!chosen) return undefined;
    chosen.pipelineKey = hot && chosen.contexts.hasLive(key) ? key : undefined;
    chosen.inFlight += 1;
    chosen.inFlightLimitMs += limitMs;
    return chosen;
  }

  #idle(key: string | undefined, scriptHash: string | undefined): IsolateSlot | undefined {
    const idle = this.#slots.filter((slot) => slot.inFlight === 0 && slot.alive);
    let roomy: IsolateSlot | undefined;
    let stale: IsolateSlot | undefined;
    for (const slot of idle) {
      if (slot.contexts.size < this.#o.contextsPerIsolate) {
        if (!roomy || slot.contexts.size < roomy.contexts.size) roomy = slot;
      } else if (!stale || slot.idleSince < stale.idleSince) {
        stale = slot;
      }
    }
    // Died while idle (isolated-vm can dispose an isolate for memory after its call returned).
    for (const slot of this.#slots.filter((slot) => slot.inFlight === 0 && !slot.alive)) this.#dispose(slot, 'memory');
    const warm = key === undefined ? undefined : idle.find((slot) => slot.contexts.hasLive(key));
    if (warm) return warm;
    // A spare that built a context of this script ahead (its module body run): the first call is a warm one.
    const ahead = scriptHash === undefined ? undefined : idle.find((slot) => slot.contexts.size < this.#o.contextsPerIsolate && slot.contexts.hasAhead(scriptHash));
    const chosen = ahead ?? roomy ?? (this.#slots.length < this.#o.maxPoolSize ? this.#add() : stale);
    // A new session (no context anywhere yet, not one spilling over to another isolate) took the
    // last isolate with room: the next one finds a spare, warmed up once this call is over (not
    // beside it: the warm-up would take its CPU).
    const lastRoom = chosen !== stale && !idle.some((slot) => slot !== chosen && slot.contexts.size < this.#o.contextsPerIsolate);
    if (key !== undefined && lastRoom && !this.#slots.some((slot) => slot.contexts.hasLive(key))) this.#spareWanted = true;
    return chosen;
  }

  /**
   * A spare isolate, made ready off any call's path: the runtime runs its recent scripts' module
   * bodies once in it (throwaway contexts), so a new session placed there does not pay for a cold
   * isolate (a lodash session's first execute: ~16 ms in a cold isolate, ~7 ms in a warmed one).
   * It counts as busy until then.
   */
  #addSpare(): void {
    const warm = this.#o.warm;
    if (!warm || this.#warming > 0) return;
    this.#warming += 1;
    // After the answer of the call that asked for it has left (the frames of a turn are written in
    // its check phase; this runs in the next one): making an isolate takes a few ms.
    const later = (fn: () => void): void => void setImmediate(() => setImmediate(fn));
    later(() => {
      if (this.#slots.length >= this.#o.maxPoolSize || !this.#o.lifecycle.running) {
        this.#warming -= 1;
        return;
      }
      const slot = this.#add();
      slot.inFlight += 1;
      warm(slot)
        .catch((error: unknown) => this.#o.logger.warn({ err: error, slot: slot.id }, 'nodejs runtime: warming a spare isolate failed'))
        .finally(() => {
          this.#warming -= 1;
          slot.inFlight -= 1;
          slot.idleSince = performance.now();
          if (!slot.alive) this.#retire(slot);
          if (this.#queue.length > 0) this.#dispatch();
        });
    });
  }

  /**
   * Places waiting calls oldest first, up to the first that finds no isolate: the calls behind it
   * wait too, even those that could join a pipeline, so that pipelines drain and free isolates.
   */
  #dispatch(): void {
    while (this.#o.lifecycle.running) {
      const waiter = this.#queue.oldest();
      const slot = waiter && this.#place(waiter);
      if (!slot) return;
      this.#queue.handOldest(slot);
    }
  }

  /** Takes a dead isolate out, keeping the pool at its warm size. */
  #retire(slot: IsolateSlot): void {
    const index = this.#slots.indexOf(slot);
    if (index === -1) return;
    this.#slots.splice(index, 1);
    if (slot.disposeReason !== 'idle' && slot.disposeReason !== 'stop') this.#restarts += 1;
    if (this.#o.lifecycle.running && this.#slots.length < this.#o.poolSize) this.#add();
  }

  #reap(): void {
    const now = performance.now();
    // The isolates with the fewest warm contexts cost the least to lose.
    for (const slot of [...this.#slots].sort((a, b) => a.contexts.size - b.contexts.size)) {
      if (this.#slots.length <= this.#o.poolSize) return;
      if (slot.inFlight === 0 && now - slot.idleSince > this.#o.idleIsolateMs) this.#dispose(slot, 'idle');
    }
  }
}
