/**
 * Admission control in front of the runtimes: a bound on executes in flight, service-wide, per
 * function (Language-Title) and per session, like reserved concurrency on AWS Lambda. Beyond a
 * bound an execute is refused at once (429 RATE_LIMITED, `details.reason: "concurrency_limit"`,
 * `Retry-After`) instead of waiting in a queue behind the runtime: under overload the admitted
 * calls keep their latency and the rest learn it in a millisecond.
 */
import { ServiceError } from '../errors/service-error.js';

export interface AdmissionLimits {
  /** Executes in flight in this service at most; 0: no bound. */
  readonly service: number;
  /** Per function (Language-Title); 0: no bound of its own. */
  readonly perFunction: number;
  /** Per session; 0: no bound of its own. */
  readonly perSession: number;
  /** What `Retry-After` says (seconds). */
  readonly retryAfterSeconds: number;
}

export type AdmissionScope = 'service' | 'function' | 'session';

export interface AdmissionOptions extends AdmissionLimits {
  /** Called for every refused execute. */
  readonly onShed?: (scope: AdmissionScope) => void;
}

export class Admission {
  readonly #o: AdmissionOptions;
  #inFlight = 0;
  readonly #byFunction = new Map<string, number>();
  readonly #bySession = new Map<string, number>();

  constructor(options: AdmissionOptions) {
    this.#o = options;
  }

  /** Executes admitted and not yet finished. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Takes a slot for one execute or throws RATE_LIMITED naming the bound that is full; the
   * returned function gives the slot back (once, however often it is called).
   */
  admit(functionKey: string, sessionKey: string): () => void {
    const { service, perFunction, perSession } = this.#o;
    const fn = this.#byFunction.get(functionKey) ?? 0;
    const session = this.#bySession.get(sessionKey) ?? 0;
    if (service > 0 && this.#inFlight >= service) throw this.#refuse('service', service);
    if (perFunction > 0 && fn >= perFunction) throw this.#refuse('function', perFunction, functionKey);
    if (perSession > 0 && session >= perSession) throw this.#refuse('session', perSession);
    this.#inFlight++;
    this.#byFunction.set(functionKey, fn + 1);
    this.#bySession.set(sessionKey, session + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      decrement(this.#byFunction, functionKey);
      decrement(this.#bySession, sessionKey);
    };
  }

  #refuse(scope: AdmissionScope, limit: number, functionKey?: string): ServiceError {
    this.#o.onShed?.(scope);
    const what = scope === 'service' ? 'in this service' : scope === 'function' ? `for ${functionKey}` : 'for this session';
    const retry = this.#o.retryAfterSeconds;
    return new ServiceError('RATE_LIMITED', `Too many executes in flight ${what} (at most ${limit}); retry in ${retry} s`, {
      reason: 'concurrency_limit',
      scope,
      limit,
      retry_after_seconds: retry,
    });
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
