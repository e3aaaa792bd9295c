/**
 * Start and stop through one stack: each resource, once started, registers how to stop it; a
 * failure later in the start unwinds everything already started, and a stop unwinds the same
 * stack in reverse order of start. A step that fails is logged and the unwinding goes on.
 */
import type { Logger } from '../observability/logger.js';

interface Step {
  readonly name: string;
  readonly stop: () => unknown;
}

export class DisposerStack {
  readonly #steps: Step[] = [];
  readonly #logger: Logger;
  #unwinding: Promise<void> | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Registers `stop` for a resource that has just started; returns the resource, for chaining. */
  defer<T>(name: string, resource: T, stop: (resource: T) => unknown): T {
    if (this.#unwinding) throw new Error(`${name} started while the service is stopping`);
    this.#steps.push({ name, stop: () => stop(resource) });
    return resource;
  }

  /** Stops every registered resource, last started first, once (later calls share the first). */
  unwind(): Promise<void> {
    this.#unwinding ??= (async () => {
      for (const step of this.#steps.splice(0).reverse()) {
        try {
          await step.stop();
        } catch (error) {
          this.#logger.error({ err: error, step: step.name }, 'stopping failed; going on with the rest');
        }
      }
    })();
    return this.#unwinding;
  }

  /** Runs `start`; if it throws, unwinds what was started and throws its error. */
  async starting<T>(start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (error) {
      await this.unwind();
      throw error;
    }
  }
}
