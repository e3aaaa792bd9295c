/**
 * The service's own defaults, from the one config schema (src/config/schema.ts): tests build parts
 * with them and override only what they test, so no test restates a default.
 */
import { loadConfig } from '../../src/config/config.js';
import { outputLimitsOf } from '../../src/main/local-runtimes.js';
import type { Logger } from '../../src/observability/logger.js';
import { createRemoteRuntime, type RemoteRuntime, type RemoteRuntimeOptions, type RemoteRuntimeTiming } from '../../src/rpc/remote-runtime.js';
import type { Language } from '../../src/runtimes/runtime.js';

export const DEFAULTS = loadConfig({}, 'test');
export const OUTPUT_LIMITS = outputLimitsOf(DEFAULTS);
export const MAX_MESSAGE_BYTES = DEFAULTS.runtimeCalls.maxMessageBytes;
/** Each language's runtime options as the service builds them (src/main/local-runtimes.ts), a logger aside. */
export const NODEJS_DEFAULTS = { ...DEFAULTS.nodejs, ...OUTPUT_LIMITS };
export const PYTHON_DEFAULTS = { ...DEFAULTS.python, ...OUTPUT_LIMITS };

/** A client of the runtime server at `address`, with the service's defaults but for `timing`. */
export function remoteRuntime(
  language: Language,
  address: string,
  logger: Logger,
  timing: Partial<RemoteRuntimeTiming> = {},
  extra: Partial<Pick<RemoteRuntimeOptions, 'tls' | 'outputLimits'>> = {},
): RemoteRuntime {
  return createRemoteRuntime({ language, address, logger, timing: { ...DEFAULTS.runtimeCalls, ...timing }, outputLimits: OUTPUT_LIMITS, ...extra });
}
