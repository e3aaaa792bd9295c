import { ServiceError } from '../errors/service-error.js';
import type { ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from './runtime.js';

/**
 * Stands for a language whose runtime cannot run here (not built yet, or its toolchain missing):
 * the Language-Title is recognised, and every call answers 503 RUNTIME_UNAVAILABLE naming what is
 * missing, as health does.
 */
export class UnavailableRuntime implements Runtime {
  readonly language: Language;
  readonly #reason: string;

  constructor(language: Language, reason: string) {
    this.language = language;
    this.#reason = reason;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  health(): RuntimeHealth {
    return { status: 'unavailable', reason: this.#reason };
  }

  prepare(_request: PrepareRequest): Promise<PrepareResult> {
    return Promise.reject(this.#error());
  }

  execute(_request: ExecuteRequest): Promise<InvocationResult> {
    return Promise.reject(this.#error());
  }

  release(_instanceKey: string): void {}

  #error(): ServiceError {
    return new ServiceError('RUNTIME_UNAVAILABLE', this.#reason, { language: this.language });
  }
}
