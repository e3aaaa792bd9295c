import { ServiceError } from '../errors/service-error.js';
import type { Language, Runtime, RuntimeHealth } from './runtime.js';

/** The runtimes the service runs scripts on, one per language, local or remote alike. */
export class RuntimeRegistry {
  readonly #runtimes = new Map<Language, Runtime>();

  register(runtime: Runtime): this {
    this.#runtimes.set(runtime.language, runtime);
    return this;
  }

  /**
   * The runtime of a language, or ServiceError RUNTIME_UNAVAILABLE naming what is missing; the
   * call was then never sent anywhere (`notRun`: the answer says it may be sent again).
   */
  get(language: Language): Runtime {
    const runtime = this.#runtimes.get(language);
    if (!runtime) throw new ServiceError('RUNTIME_UNAVAILABLE', `No ${language} runtime is configured`, { language, notRun: true });
    // The cheap status on the hot path; the full health (its reason) only when it is unavailable.
    if ((runtime.status?.() ?? runtime.health().status) === 'unavailable') {
      const health = runtime.health();
      throw new ServiceError('RUNTIME_UNAVAILABLE', health.reason ?? `The ${language} runtime is unavailable`, { language, notRun: true });
    }
    return runtime;
  }

  health(): Record<string, RuntimeHealth> {
    const out: Record<string, RuntimeHealth> = {};
    for (const [language, runtime] of this.#runtimes) out[language] = runtime.health();
    return out;
  }

  /** All at once: they are independent, and each may take a while (processes to start, a toolchain to check). */
  async startAll(): Promise<void> {
    await Promise.all([...this.#runtimes.values()].map((runtime) => runtime.start()));
  }

  /** Reverse order of start. */
  async stopAll(): Promise<void> {
    for (const runtime of [...this.#runtimes.values()].reverse()) await runtime.stop();
  }
}
