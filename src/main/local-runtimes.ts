/**
 * One language's runtime in the calling process: what a local runtime process
 * (runtime-process-main.ts) and a runtime server (runtime-server-main.ts) run inside themselves,
 * configured alike from the service's settings. Kept apart from runtimes.ts (the service's
 * wiring), so that a runtime process loads only the runtimes, not the service's clients.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import { NodejsRuntime } from '../runtimes/nodejs/nodejs-runtime.js';
import type { OutputLimits } from '../runtimes/kit/output-limits.js';
import { PythonRuntime } from '../runtimes/python/python-runtime.js';
import type { Language, Runtime } from '../runtimes/runtime.js';
import { RustRuntime } from '../runtimes/rust/rust-runtime.js';
import type { ModuleStore } from '../runtimes/kit/module-store.js';

/** What a language's in-process runtime is configured from: the service's settings, no secret among them. */
export type LocalRuntimeSettings = Pick<Config, 'maxLogEntries' | 'maxLogBytes' | 'maxResultBytes' | 'wasmCompileTimeoutSeconds' | 'nodejs' | 'python' | 'rust'>;

/** The one argument of a runtime process (src/main/runtime-process-main.ts). */
export interface RuntimeProcessSettings {
  readonly language: Language;
  readonly logLevel: string;
  readonly maxFrameBytes: number;
  readonly runtime: LocalRuntimeSettings;
}

/** What one invocation may return: the same bounds in every language, enforced again by the host. */
export function outputLimitsOf(settings: Pick<Config, 'maxLogEntries' | 'maxLogBytes' | 'maxResultBytes'>): OutputLimits {
  return { maxLogEntries: settings.maxLogEntries, maxLogBytes: settings.maxLogBytes, maxResultBytes: settings.maxResultBytes };
}

export function localRuntimeSettings(config: Config): LocalRuntimeSettings {
  const { maxLogEntries, maxLogBytes, maxResultBytes, wasmCompileTimeoutSeconds, nodejs, python, rust } = config;
  return { maxLogEntries, maxLogBytes, maxResultBytes, wasmCompileTimeoutSeconds, nodejs, python, rust };
}

/** One language's runtime in the calling process (inside a runtime process or a runtime server). */
export function createLocalRuntime(language: Language, settings: LocalRuntimeSettings, logger: Logger, moduleStore: () => ModuleStore): Runtime {
  const outputLimits = outputLimitsOf(settings);
  switch (language) {
    case 'nodejs':
      return new NodejsRuntime({ logger: logger.child({ runtime: 'nodejs' }), ...settings.nodejs, ...outputLimits });
    case 'python':
      return new PythonRuntime({ logger: logger.child({ runtime: 'python' }), ...settings.python, ...outputLimits });
    case 'rust':
      return new RustRuntime({
        logger: logger.child({ runtime: 'rust' }),
        ...settings.rust,
        ...outputLimits,
        store: moduleStore(),
        compileTimeoutMs: settings.wasmCompileTimeoutSeconds * 1000,
      });
  }
}
