/**
 * Keeps one local runtime process running (process-runtime.ts has the calls it serves): starts it,
 * restarts it with a growing backoff while it keeps dying, asks its health every second and kills
 * one that stalls, and stops it (graceful, then SIGKILL).
 *
 * Its states are not src/runtimes/kit/lifecycle.ts's: that lifecycle starts once and a failed start
 * is final (`unavailable`), while a process here that dies or fails to start goes `restarting` and
 * comes back, calls waiting for it meanwhile; only a machine that cannot sandbox it is final.
 */
import { waitAtMost } from '../common/idle.js';
import { ServiceError } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import type { Language, RuntimeHealth } from '../runtimes/runtime.js';
import type { ModuleStore } from '../runtimes/kit/module-store.js';
import type { CgroupLimits, CgroupSupport } from '../sandbox/cgroup.js';
import type { RuntimeProcessLaunch } from '../sandbox/runtime-sandbox.js';
import { CallTimedOut } from './frame-peer.js';
import { killChild, spawnChild, type Child } from './process-child.js';
import { describeExit, type Exit } from './process-exit.js';
import { ProcessLogForwarder } from './process-logs.js';
import { healthFromWire } from './runtime-wire.js';

export interface ProcessSupervisorOptions {
  readonly language: Language;
  /** The endpoint's name in the pool, /health and /metrics (e.g. `process:nodejs/1`). */
  readonly address: string;
  readonly logger: Logger;
  /** How to start the process (throws RuntimeSandboxUnavailable when it cannot be sandboxed here). */
  readonly launch: () => RuntimeProcessLaunch;
  /** Passed to the process as its one argument (JSON): what it needs, no secret. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly cgroups: CgroupSupport;
  readonly cgroupLimits: CgroupLimits;
  /** The service's module store, which the Rust process reaches through here. */
  readonly store?: ModuleStore;
  /** How long a start may take (the Rust process builds its toolchain's crates on a first start). */
  readonly startTimeoutMs: number;
  /** Time the runtime has to end its calls at stop before the process is killed. */
  readonly stopGraceMs: number;
  /** Largest frame either way (sources, artifacts and results travel whole). */
  readonly maxFrameBytes: number;
}

/** How often a runtime process's health is asked. */
const HEALTH_INTERVAL_MS = 1000;

/** A process that does not answer its health check for this long is killed and replaced. */
const UNRESPONSIVE_MS = 5000;
const RESTART_BACKOFF_MAX_MS = 5000;
/**
 * A process that stayed up this long is restarted at once when it dies; one that dies sooner
 * (a crash loop: a broken machine, a script its sessions keep sending) waits longer each time.
 */
export const STABLE_MS = 5000;
/** Starts that fail in a row before the endpoint reports itself unavailable. */
const FAILED_STARTS_UNAVAILABLE = 3;

/** `unavailable`: it cannot be started here at all (no sandbox), until the operator changes the machine. */
type State = 'new' | 'starting' | 'ready' | 'restarting' | 'unavailable' | 'stopping' | 'stopped';

export class ProcessSupervisor {
  readonly #o: ProcessSupervisorOptions;
  readonly #logs: ProcessLogForwarder;
  #state: State = 'new';
  #child: Child | undefined;
  #health: RuntimeHealth = { status: 'unavailable', reason: 'not started' };
  #lastFailure: string | undefined;
  #failedStarts = 0;
  #restarts = 0;
  #crashes = 0;
  #backoffMs = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #polling = false;
  #readyWaiters: Array<() => void> = [];
  #launchDetails: Readonly<Record<string, unknown>> = {};

  constructor(options: ProcessSupervisorOptions) {
    this.#o = options;
    this.#logs = new ProcessLogForwarder(options.logger, options.address);
  }

  /** Starts the process and waits until it is ready, or has failed (then it reports unavailable and keeps trying). */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#spawn();
    await this.#waitReady(this.#o.startTimeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    clearTimeout(this.#restartTimer);
    clearInterval(this.#healthTimer);
    this.#wakeWaiters();
    const child = this.#child;
    if (child) {
      const grace = this.#o.stopGraceMs + 2000;
      await Promise.race([child.peer.call('stop', {}, { timeoutMs: grace }).catch(() => undefined), child.exited]);
      const force = setTimeout(() => killChild(child, 'it was stopped', 'stopped'), 1000);
      force.unref();
      await waitAtMost(child.exited, grace);
      clearTimeout(force);
      killChild(child, 'it was stopped', 'stopped');
      await child.exited;
    }
    this.#child = undefined;
    this.#state = 'stopped';
    this.#health = { status: 'unavailable', reason: 'stopped' };
  }

  /** Calls in flight now fail because of a stop, not a crash. */
  get stopping(): boolean {
    return this.#state === 'stopping' || this.#state === 'stopped';
  }

  /** The process, when it is ready to take a call now. */
  get ready(): Child | undefined {
    return this.#state === 'ready' ? this.#child : undefined;
  }

  status(): RuntimeHealth['status'] {
    switch (this.#state) {
      case 'ready':
        return this.#health.status;
      case 'starting':
      case 'restarting':
        return this.#failedStarts >= FAILED_STARTS_UNAVAILABLE ? 'unavailable' : 'degraded';
      default:
        return 'unavailable';
    }
  }

  health(): RuntimeHealth {
    const child = this.#child;
    const { language } = this.#o;
    const details = {
      ...this.#health.details,
      address: this.#o.address,
      process: true,
      state: this.#state,
      ...this.#launchDetails,
      pid: child?.pid,
      restarts: this.#restarts,
      crashes: this.#crashes,
      ...(child?.cgroup ? { cgroup: this.#o.cgroups.kind, memory_bytes: child.cgroup.memoryBytes(), memory_limit_bytes: child.cgroup.limits.memoryBytes } : { cgroup: 'none' }),
      ...(this.#lastFailure ? { last_failure: this.#lastFailure } : {}),
    };
    switch (this.#state) {
      case 'ready':
        return { ...this.#health, details };
      case 'starting':
      case 'restarting':
        // Calls wait for it; while starts keep failing it says so.
        if (this.#failedStarts >= FAILED_STARTS_UNAVAILABLE) return { status: 'unavailable', reason: `the ${language} runtime process does not start: ${this.#lastFailure ?? 'unknown'}`, details };
        return { status: 'degraded', reason: this.#state === 'restarting' ? `the ${language} runtime process is restarting: ${this.#lastFailure ?? ''}` : 'starting', details };
      case 'unavailable':
        return { status: 'unavailable', reason: `the ${language} runtime cannot start here: ${this.#lastFailure ?? 'unknown'}`, details };
      default:
        return { status: 'unavailable', reason: this.#state === 'new' ? 'not started' : `the ${language} runtime process is ${this.#state}`, details };
    }
  }

  /** The ready process, waiting up to `maxWaitMs` while it (re)starts; RUNTIME_UNAVAILABLE (not run: the pool may go elsewhere) when it does not come. */
  async readyChild(maxWaitMs: number): Promise<Child> {
    if (this.#state === 'starting' || this.#state === 'restarting') await this.#waitReady(maxWaitMs);
    const child = this.#child;
    if (this.#state === 'ready' && child) return child;
    const reason = this.#state === 'restarting' || this.#state === 'starting' ? `is restarting (${this.#lastFailure ?? 'starting'})` : `is ${this.#state}${this.#lastFailure ? `: ${this.#lastFailure}` : ''}`;
    throw new ServiceError('RUNTIME_UNAVAILABLE', `the ${this.#o.language} runtime process ${reason}`, { address: this.#o.address, notRun: true });
  }

  #spawn(): void {
    this.#state = this.#state === 'new' ? 'starting' : 'restarting';
    let launch: RuntimeProcessLaunch;
    try {
      launch = this.#o.launch();
    } catch (error) {
      // No sandbox here: nothing to retry until the operator changes the machine.
      this.#lastFailure = (error as Error).message;
      this.#state = 'unavailable';
      this.#o.logger.error({ reason: this.#lastFailure }, `${this.#o.language} runtime process cannot be started`);
      this.#wakeWaiters();
      return;
    }
    this.#launchDetails = launch.details;
    const { language, address, logger, settings, cgroups, cgroupLimits, store, maxFrameBytes } = this.#o;
    const child = spawnChild({ language, address, logger, launch, settings, cgroups, cgroupLimits, store, maxFrameBytes, logs: this.#logs, onExit: (exited, exit) => this.#onExit(exited, exit) });
    this.#child = child;
    child.peer.on('ready', (body) => {
      if (this.#child !== child || (this.#state !== 'starting' && this.#state !== 'restarting')) return;
      child.readyAt = performance.now();
      this.#failedStarts = 0;
      this.#health = healthOf(body);
      this.#state = 'ready';
      this.#o.logger.info({ address: this.#o.address, pid: child.pid, restarts: this.#restarts }, `${this.#o.language} runtime process ready`);
      this.#wakeWaiters();
      if (!this.#healthTimer) {
        this.#healthTimer = setInterval(() => void this.#poll(), HEALTH_INTERVAL_MS);
        this.#healthTimer.unref();
      }
    });
    child.peer.on('failed', (body) => {
      this.#lastFailure = typeof body.reason === 'string' ? body.reason.slice(0, 2000) : 'it failed to start';
    });
  }

  #onExit(child: Child, exit: Exit): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    if (this.stopping) return;
    const why = describeExit(exit, child.cgroup?.limits);
    const { address, language, logger } = this.#o;
    if (child.readyAt !== undefined) {
      this.#crashes++;
      this.#lastFailure = why;
      logger.error({ address, exit: { ...exit, stderr: exit.stderr.slice(-1000) } }, `${language} runtime process died: ${why}; restarting it`);
      // A process that stayed up a while restarts at once; one that keeps dying waits longer each time.
      this.#backoffMs = performance.now() - child.readyAt > STABLE_MS ? 0 : Math.min(RESTART_BACKOFF_MAX_MS, Math.max(100, this.#backoffMs * 2));
    } else {
      this.#failedStarts++;
      this.#lastFailure = `${why}${exit.stderr ? `: ${exit.stderr.split('\n').slice(-3).join(' | ')}` : ''}`;
      logger.error({ address, exit }, `${language} runtime process failed to start`);
      this.#backoffMs = Math.min(RESTART_BACKOFF_MAX_MS, Math.max(250, this.#backoffMs * 2));
    }
    this.#state = 'restarting';
    this.#health = { status: 'degraded', reason: `restarting: ${why}` };
    if (this.#failedStarts >= FAILED_STARTS_UNAVAILABLE) this.#wakeWaiters();
    this.#restarts++;
    this.#restartTimer = setTimeout(() => {
      if (this.#state === 'restarting') this.#spawn();
    }, this.#backoffMs);
    this.#restartTimer.unref();
  }

  #waitReady(maxWaitMs: number): Promise<void> {
    if (this.#state !== 'starting' && this.#state !== 'restarting') return Promise.resolve();
    if (this.#failedStarts >= FAILED_STARTS_UNAVAILABLE) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== done);
        resolve();
      }, maxWaitMs);
      timer.unref();
      this.#readyWaiters.push(done);
    });
  }

  #wakeWaiters(): void {
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  async #poll(): Promise<void> {
    const child = this.#child;
    if (this.#polling || this.#state !== 'ready' || !child) return;
    this.#polling = true;
    try {
      const answer = await child.peer.call('health', {}, { timeoutMs: UNRESPONSIVE_MS });
      if (this.#child === child) this.#health = healthOf(answer.body);
    } catch (error) {
      if (error instanceof CallTimedOut && this.#child === child) {
        this.#o.logger.error({ address: this.#o.address }, `${this.#o.language} runtime process did not answer its health check for ${UNRESPONSIVE_MS} ms; killing it`);
        killChild(child, `it stopped answering (no health answer for ${UNRESPONSIVE_MS / 1000} s) and was killed`, 'unresponsive');
      }
    } finally {
      this.#polling = false;
    }
  }
}

/** The runtime's health as the process reported it, with the process's own memory. */
function healthOf(body: Record<string, unknown>): RuntimeHealth {
  const health = healthFromWire(body as never);
  const rss = typeof body.rss_bytes === 'number' && Number.isFinite(body.rss_bytes) ? body.rss_bytes : undefined;
  return rss === undefined ? health : { ...health, details: { ...health.details, rss_bytes: rss } };
}
