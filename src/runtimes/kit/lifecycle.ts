/**
 * The one lifecycle of every runtime: `new → starting → running → stopping → stopped`, or
 * `starting → unavailable(reason)` when start fails. A start never throws: a runtime that cannot
 * start here reports `unavailable` with the reason (health, and every call's RUNTIME_UNAVAILABLE),
 * so the other languages keep serving. A stop lets the calls in flight finish for a named grace
 * period, then forces the rest.
 */
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import { IdleWaiters, waitAtMost } from '../../common/idle.js';
import type { Language, RuntimeHealth } from '../runtime.js';
import { errorMessage } from './invocation.js';

export type LifecycleState = 'new' | 'starting' | 'running' | 'unavailable' | 'stopping' | 'stopped';

export interface LifecycleOptions {
  readonly language: Language;
  /** How messages name the runtime, e.g. `the Python runtime`. */
  readonly name: string;
  readonly logger: Logger;
  /** How long a stop waits for the calls in flight before it forces them. */
  readonly stopGraceMs: number;
}

export class Lifecycle {
  readonly #o: LifecycleOptions;
  #state: LifecycleState = 'new';
  #reason: string | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #inFlight = 0;
  readonly #idle = new IdleWaiters();

  constructor(options: LifecycleOptions) {
    this.#o = options;
  }

  get state(): LifecycleState {
    return this.#state;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /**
   * Runs `body` once; it resolves into `running`, a throw into `unavailable` with `describe`'s
   * reason (logged). Later calls do nothing.
   */
  start(body: () => Promise<void>, describe: (error: unknown) => string = (error) => `${this.#o.name} cannot start: ${errorMessage(error)}`): Promise<void> {
    if (this.#state !== 'new') return this.#starting ?? Promise.resolve();
    this.#state = 'starting';
    this.#starting = body().then(
      () => {
        if (this.#state === 'starting') this.#state = 'running';
      },
      (error: unknown) => {
        if (this.#state !== 'starting') return;
        this.#reason = describe(error);
        this.#state = 'unavailable';
        this.#o.logger.error({ reason: this.#reason }, `${this.#o.language} runtime unavailable`);
      },
    );
    return this.#starting;
  }

  /**
   * `stopping`: new calls are refused; after a start in progress has settled, `drain` (refuse the
   * waiting calls, stop timers) runs, the calls in flight get `stopGraceMs` to finish, then `force`
   * ends the rest and releases everything. Idempotent: a second call waits for the first.
   */
  stop(steps: { readonly drain?: () => void; readonly force: () => void | Promise<void> }): Promise<void> {
    this.#stopping ??= (async () => {
      const started = this.#state !== 'new';
      this.#state = 'stopping';
      if (!started) return void (this.#state = 'stopped');
      await this.#starting;
      steps.drain?.();
      if (this.#inFlight > 0) await waitAtMost(this.#idle.next(), this.#o.stopGraceMs);
      await steps.force();
      this.#state = 'stopped';
      this.#o.logger.info(`${this.#o.language} runtime stopped`);
    })();
    return this.#stopping;
  }

  /** Counts `call` in flight while it runs, so a stop lets it finish within the grace period. */
  async track<T>(call: () => Promise<T>): Promise<T> {
    this.#inFlight += 1;
    try {
      return await call();
    } finally {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) this.#idle.notify();
    }
  }

  /** Why the runtime does not serve: the start failure, or the state it is in. */
  get reason(): string {
    if (this.#state === 'unavailable') return this.#reason ?? `${this.#o.name} is unavailable`;
    return `${this.#o.name} is ${this.#state === 'new' ? 'not started' : this.#state}`;
  }

  /** RUNTIME_UNAVAILABLE with the reason. */
  unavailable(): ServiceError {
    return new ServiceError('RUNTIME_UNAVAILABLE', this.reason, { language: this.#o.language });
  }

  /** Throws `unavailable()` unless running. */
  assertRunning(): void {
    if (this.#state !== 'running') throw this.unavailable();
  }

  /** The health of a runtime that is not running (with the runtime's details), or undefined while it runs. */
  notRunning(details?: Readonly<Record<string, unknown>>): RuntimeHealth | undefined {
    if (this.#state === 'running') return undefined;
    return { status: 'unavailable', reason: this.reason, ...(details ? { details } : {}) };
  }
}
