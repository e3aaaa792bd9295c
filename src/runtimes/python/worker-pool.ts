/**
 * Which Python worker serves which call. A worker serves one session only: a session's first call
 * binds a blank spare, which keeps the session's module state and is never handed to anyone else;
 * when the session ends (or its worker makes room for another, least recently used first) the
 * process is killed. Compiles run on compilers that never join a session: a blank worker that had
 * compiled someone else's script would carry its source into the session it joins.
 *
 * One call at a time per worker, a session's calls in order. The queue is bounded (`maxQueue`) and
 * a call waits at most its own time limit; beyond either it is refused with RUNTIME_UNAVAILABLE
 * (the runtime is saturated, not the script wrong).
 */
import { waitAtMost } from '../../common/idle.js';
import { ServiceError } from '../../errors/service-error.js';
import { DeadlineQueue } from '../kit/deadline-queue.js';
import { errorMessage, roundMs } from '../kit/invocation.js';
import type { PythonRuntimeOptions } from './python-runtime.js';
import { describeExit, WorkerProcess, type KillReason, type PreloadReport, type WorkerExit, type WorkerLaunch } from './worker-process.js';

export type WorkerPoolOptions = Pick<PythonRuntimeOptions, 'logger' | 'poolSize' | 'maxWorkers' | 'maxQueue' | 'compilers' | 'idleCpuMsPerSecond'> & {
  /** The error of a call refused because the runtime stops. */
  readonly unavailable: () => ServiceError;
};

/** A worker as operators and tests see it (pids to inspect or signal). */
export type WorkerInfo = Readonly<{ id: number; role: 'compiler' | 'blank' | 'session'; pid: number | undefined; instanceKey: string | undefined; busy: boolean; state: string }>;

/** Consecutive failed worker starts after which queued calls are refused and starts back off. */
const START_FAILURES_TO_BACK_OFF = 3;
const START_BACKOFF_MS = 1000;
const REAPER_INTERVAL_MS = 1000;
const CLOCK_TICKS_PER_SECOND = 100;
/** How long a stop waits for each killed worker to be gone. */
const EXIT_WAIT_MS = 2000;

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  /** Set while open: workers are started only then. */
  #launch: WorkerLaunch | undefined;
  /** Session workers and blank spares (at most maxWorkers). */
  readonly #workers = new Set<WorkerProcess>();
  readonly #compilers = new Set<WorkerProcess>();
  readonly #byKey = new Map<string, WorkerProcess>();
  #nextId = 1;
  /** Calls waiting for a worker: their session, or undefined for a compile. */
  readonly #queue = new DeadlineQueue<string | undefined, WorkerProcess>();
  /** Queued calls per session: a session with calls waiting is served in order, and not evicted. */
  readonly #queuedPerKey = new Map<string, number>();
  #restarts = 0;
  #startFailures = 0;
  #lastStartFailure: string | undefined;
  #backoffUntil = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  #reaper: NodeJS.Timeout | undefined;
  #lastPreload: PreloadReport | undefined;

  constructor(options: WorkerPoolOptions) {
    this.#o = options;
  }

  /** Proves that `launch` works here by starting one worker (it stays, as a compiler), then opens; resolves with that start's ms. */
  async open(launch: WorkerLaunch): Promise<number> {
    const started = performance.now();
    await this.#spawn(launch, 'compiler').ready.catch((error: unknown) => {
      throw new Error(`a ${launch.plan.kind === 'bubblewrap' ? 'sandboxed ' : ''}worker did not start: ${errorMessage(error)}`);
    });
    this.#launch = launch;
    this.#reaper = setInterval(() => this.#reap(), REAPER_INTERVAL_MS).unref();
    this.#replenish();
    return roundMs(performance.now() - started);
  }

  /** Refuses the waiting calls and starts no more workers; those running go on until killAll. */
  close(): void {
    this.#launch = undefined;
    clearInterval(this.#reaper);
    clearTimeout(this.#backoffTimer);
    this.#queue.rejectAll(() => this.#o.unavailable());
    this.#queuedPerKey.clear();
  }

  /** Kills every worker (a call still on one ends with WorkerGone) and waits for them to be gone. */
  async killAll(): Promise<void> {
    const all = this.#all();
    for (const worker of all) worker.kill('stop');
    await Promise.all(all.map((worker) => waitAtMost(worker.exited, EXIT_WAIT_MS)));
    this.#workers.clear();
    this.#compilers.clear();
    this.#byKey.clear();
  }

  /** A worker for one call of session `key` (undefined: a compile), marked busy; waits at most `maxWaitMs`. */
  acquire(key: string | undefined, maxWaitMs: number): Promise<WorkerProcess> {
    const now = key === undefined || !this.#queuedPerKey.has(key) ? this.#claim(key) : undefined;
    if (now) return Promise.resolve(now);
    const queued = this.#queue.length;
    if (queued >= this.#o.maxQueue) {
      return Promise.reject(new ServiceError('RUNTIME_UNAVAILABLE', `the Python runtime is saturated: ${queued} calls are already waiting for a worker`, { queued, maxQueue: this.#o.maxQueue }));
    }
    const waiting = this.#queue.wait(key, maxWaitMs, (left) => {
      this.#unqueued(key);
      const lastStartFailure = this.#startFailures > 0 ? this.#lastStartFailure : undefined;
      return new ServiceError('RUNTIME_UNAVAILABLE', `no Python worker became free within ${maxWaitMs} ms`, { queued: left, ...(lastStartFailure ? { lastStartFailure } : {}) });
    });
    if (key !== undefined) this.#queuedPerKey.set(key, (this.#queuedPerKey.get(key) ?? 0) + 1);
    this.#dispatch();
    return waiting;
  }

  /** The call on `worker` is over. */
  handBack(worker: WorkerProcess): void {
    worker.busy = false;
    worker.idleSince = performance.now();
    // Killed during the call (timeout, memory...) or its session ended (it is no longer its key's worker): it serves no one again.
    if (worker.killReason !== undefined || (worker.key !== undefined && this.#byKey.get(worker.key) !== worker)) this.#retire(worker, worker.killReason ?? 'released');
    // A session's worker runs nothing until that session's next call.
    else if (worker.key !== undefined) worker.freeze();
    this.#dispatch();
  }

  /** The session ended: its worker goes, once its call (if one runs) is over. */
  endSession(key: string): void {
    const worker = this.#byKey.get(key);
    if (!worker) return;
    this.#byKey.delete(key);
    if (!worker.busy) this.handBack(worker);
  }

  /** Ends a worker because of what ran in it; a fresh one takes its place (a restart). */
  kill(worker: WorkerProcess, reason: KillReason): void {
    if (worker.killReason === undefined && worker.state !== 'dead') this.#restarts += 1;
    worker.kill(reason);
  }

  /** Counts for health. */
  stats(): Record<string, number> {
    const workers = [...this.#workers];
    const count = (test: (worker: WorkerProcess) => boolean): number => workers.filter(test).length;
    const spares = count((w) => w.key === undefined);
    return { workers: workers.length, sessions: this.#byKey.size, spares, busy: count((w) => w.busy), frozen: count((w) => w.frozen), compilers: this.#compilers.size, queued: this.#queue.length, restarts: this.#restarts };
  }

  /** The preload (PYTHON_PRELOAD) of the session worker that started last: for health. */
  get lastPreload(): PreloadReport | undefined {
    return this.#lastPreload;
  }

  /** Why workers fail to start, while they keep failing. */
  get startFailure(): string | undefined {
    return this.#startFailures >= START_FAILURES_TO_BACK_OFF ? (this.#lastStartFailure ?? 'unknown') : undefined;
  }

  list(): WorkerInfo[] {
    return this.#all().map((w) => ({ id: w.id, role: this.#compilers.has(w) ? 'compiler' : w.key === undefined ? 'blank' : 'session', pid: w.pid, instanceKey: w.key, busy: w.busy, state: w.state }));
  }

  /** A ready, idle worker for `key`, marked busy; or undefined (then one may have been started for it). */
  #claim(key: string | undefined): WorkerProcess | undefined {
    const worker = key === undefined ? this.#compiler() : this.#sessionWorker(key);
    if (worker) worker.busy = true;
    return worker;
  }

  /** The session's own worker (waited for while busy), else a blank one that becomes its own, else a new one. */
  #sessionWorker(key: string): WorkerProcess | undefined {
    const own = this.#byKey.get(key);
    if (own && !this.#retiredIfKilled(own)) return own.state === 'ready' && !own.busy ? own : undefined;
    // After an idle blank worker, one on its way is the soonest.
    const blank =
      [...this.#workers].find((w) => w.key === undefined && w.state === 'ready' && !w.busy && w.killReason === undefined) ??
      [...this.#workers].find((w) => w.key === undefined && w.state === 'starting') ??
      (this.#makeRoom() ? this.#spawnWorker('session') : undefined);
    if (!blank) return undefined;
    blank.key = key;
    this.#byKey.set(key, blank);
    return blank.state === 'ready' ? blank : undefined;
  }

  /** Several compilers, so that one slow compile (a huge f-string took 4.6 s) holds up no other initialize. */
  #compiler(): WorkerProcess | undefined {
    let starting = false;
    for (const compiler of [...this.#compilers]) {
      if (this.#retiredIfKilled(compiler)) continue;
      if (compiler.state === 'ready' && !compiler.busy) return compiler;
      starting ||= compiler.state === 'starting';
    }
    if (!starting && this.#compilers.size < this.#o.compilers) this.#spawnWorker('compiler');
    return undefined;
  }

  /** Killed while idle (it broke the protocol between calls): it is on its way out. */
  #retiredIfKilled(worker: WorkerProcess): boolean {
    if (worker.killReason === undefined || worker.busy) return false;
    this.#retire(worker, worker.killReason);
    return true;
  }

  /** True when one more worker may start: there is room, or an idle session's worker was retired for it. */
  #makeRoom(): boolean {
    if (this.#workers.size < this.#o.maxWorkers) return true;
    let victim: WorkerProcess | undefined;
    for (const worker of this.#workers) {
      if (worker.key === undefined || worker.busy || worker.state !== 'ready' || this.#queuedPerKey.has(worker.key)) continue;
      if (!victim || worker.idleSince < victim.idleSince) victim = worker;
    }
    if (victim) this.#retire(victim, 'evicted');
    return victim !== undefined;
  }

  #unqueued(key: string | undefined): void {
    if (key === undefined) return;
    const left = (this.#queuedPerKey.get(key) ?? 1) - 1;
    if (left > 0) this.#queuedPerKey.set(key, left);
    else this.#queuedPerKey.delete(key);
  }

  /** Hands idle workers to queued calls, oldest first, skipping calls whose worker is busy. */
  #dispatch(): void {
    if (!this.#launch) return;
    this.#queue.handOut((key) => {
      const worker = this.#claim(key);
      if (worker) this.#unqueued(key);
      return worker;
    });
    this.#replenish();
  }

  /** `poolSize` blank workers, within maxWorkers only: an idle session's warm state is worth more than a spare (~30 ms of start). */
  #replenish(): void {
    let spares = [...this.#workers].filter((w) => w.key === undefined).length;
    while (spares < this.#o.poolSize && this.#workers.size < this.#o.maxWorkers && this.#spawnWorker('session')) spares += 1;
  }

  #spawnWorker(role: 'compiler' | 'session'): WorkerProcess | undefined {
    if (!this.#launch) return undefined;
    if (performance.now() >= this.#backoffUntil) return this.#spawn(this.#launch, role);
    this.#backoffTimer ??= setTimeout(() => {
      this.#backoffTimer = undefined;
      this.#dispatch();
    }, Math.max(1, this.#backoffUntil - performance.now())).unref();
    return undefined;
  }

  #spawn(launch: WorkerLaunch, role: 'compiler' | 'session'): WorkerProcess {
    const worker = new WorkerProcess({ ...launch, id: this.#nextId++, compiler: role === 'compiler', logger: this.#o.logger, onExit: (w, exit) => this.#onExit(w, exit) });
    (role === 'compiler' ? this.#compilers : this.#workers).add(worker);
    const onReady = (): void => {
      this.#startFailures = 0;
      worker.idleSince = performance.now();
      if (worker.preload) this.#preloaded(worker.preload);
      this.#dispatch();
    };
    worker.ready.then(onReady, () => undefined);
    return worker;
  }

  /** A worker whose preload failed still serves (a script importing the module gets the error); the failure is logged once per change. */
  #preloaded(report: PreloadReport): void {
    const failed = JSON.stringify(report.failed);
    if (failed !== '{}' && failed !== JSON.stringify(this.#lastPreload?.failed ?? {})) {
      this.#o.logger.warn({ failed: report.failed }, 'python runtime: PYTHON_PRELOAD modules failed to import in a worker; it serves anyway');
    }
    this.#lastPreload = report;
  }

  #onExit(worker: WorkerProcess, exit: WorkerExit): void {
    this.#forget(worker);
    if (!this.#launch) return;
    if (exit.duringStart) {
      this.#startFailures += 1;
      this.#lastStartFailure = describeExit(exit);
      this.#o.logger.error({ worker: worker.id, exit }, 'python runtime: a worker failed to start');
      if (this.#startFailures >= START_FAILURES_TO_BACK_OFF) {
        this.#backoffUntil = performance.now() + START_BACKOFF_MS;
        // Nothing is coming for the calls that wait for a worker: tell them now.
        this.#queue.rejectAll((key) => {
          this.#unqueued(key);
          return new ServiceError('RUNTIME_UNAVAILABLE', `Python workers fail to start: ${this.#lastStartFailure}`);
        });
      }
    } else if (exit.reason === undefined || exit.reason === 'protocol') {
      // Died on its own (crash, kill -9, CPU limit) or broke the protocol; the runtime's own kills are counted in kill().
      this.#restarts += 1;
      this.#o.logger.warn({ worker: worker.id, exit }, 'python runtime: a worker died; replacing it');
    }
    this.#dispatch();
  }

  /** Takes a worker out of the pool now (its exit comes later) and kills it. */
  #retire(worker: WorkerProcess, reason: KillReason): void {
    this.#forget(worker);
    worker.kill(reason);
  }

  #forget(worker: WorkerProcess): void {
    this.#workers.delete(worker);
    this.#compilers.delete(worker);
    if (worker.key !== undefined && this.#byKey.get(worker.key) === worker) this.#byKey.delete(worker.key);
  }

  /** An idle session's worker that burns CPU runs code nobody asked for (should freezing it have failed): it is killed. */
  #reap(): void {
    const now = performance.now();
    const budgetTicks = (this.#o.idleCpuMsPerSecond / 1000) * CLOCK_TICKS_PER_SECOND;
    for (const worker of this.#workers) {
      const ticks = worker.busy || worker.state !== 'ready' || worker.key === undefined ? undefined : worker.cpuTicks();
      if (ticks === undefined) continue;
      const sample = worker.cpuSample;
      worker.cpuSample = { ticks, at: now };
      // A sample from before the last call says nothing of this idle period.
      if (!sample || sample.at < worker.idleSince || ticks - sample.ticks <= budgetTicks * Math.max(0.5, (now - sample.at) / 1000)) continue;
      this.#o.logger.warn({ worker: worker.id, instanceKey: worker.key }, 'python runtime: an idle worker kept using CPU; killing it');
      this.#restarts += 1;
      this.#retire(worker, 'idle-cpu');
    }
    this.#replenish();
  }

  #all(): WorkerProcess[] {
    return [...this.#compilers, ...this.#workers];
  }
}
