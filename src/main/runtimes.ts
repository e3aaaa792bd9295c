/**
 * Which runtime serves each language: in-process by default, or a remote runtime server
 * (proto/runtime.proto) when `<LANGUAGE>_RUNTIME_URL` names one. Used by the service and by the
 * runtime server entry point, so both build runtimes the same way.
 */
import { ConfigError, type Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import { createRemoteRuntime } from '../rpc/remote-runtime.js';
import { createNodejsRuntime } from '../runtimes/nodejs/nodejs-runtime.js';
import { createPythonRuntime } from '../runtimes/python/python-runtime.js';
import { LANGUAGES, type Language, type Runtime } from '../runtimes/runtime.js';
import { createRustRuntime } from '../runtimes/wasm/rust-runtime.js';
import type { WasmModuleStore } from '../runtimes/wasm/wasm-module-store.js';

/** One language's in-process runtime, configured from the service's configuration. */
export function createLocalRuntime(language: Language, config: Config, logger: Logger, wasmStore: () => WasmModuleStore): Runtime {
  switch (language) {
    case 'nodejs':
      return createNodejsRuntime({
        logger: logger.child({ runtime: 'nodejs' }),
        poolSize: config.nodejs.poolSize,
        maxPoolSize: config.nodejs.maxPoolSize,
        memoryLimitMb: config.nodejs.memoryLimitMb,
        maxLogEntries: config.maxLogEntries,
        maxLogBytes: config.maxLogBytes,
        maxResultBytes: config.maxResultBytes,
      });
    case 'python':
      return createPythonRuntime({
        logger: logger.child({ runtime: 'python' }),
        poolSize: config.python.poolSize,
        maxWorkers: config.python.maxWorkers,
        maxQueue: config.python.maxQueue,
        memoryLimitMb: config.python.memoryLimitMb,
        allowUnsandboxed: config.python.allowUnsandboxed,
        maxLogEntries: config.maxLogEntries,
        maxLogBytes: config.maxLogBytes,
        maxResultBytes: config.maxResultBytes,
      });
    case 'rust':
      return createRustRuntime({
        logger: logger.child({ runtime: 'rust' }),
        store: wasmStore(),
        cacheDir: config.rust.toolchainDir,
        compileTimeoutMs: config.wasmCompileTimeoutSeconds * 1000,
        poolSize: config.rust.poolSize,
        memoryLimitMb: config.rust.memoryLimitMb,
        maxConcurrentCompiles: config.rust.maxConcurrentCompiles,
        maxLogEntries: config.maxLogEntries,
        maxLogBytes: config.maxLogBytes,
        maxResultBytes: config.maxResultBytes,
      });
  }
}

/**
 * The address of a language's remote runtime, or undefined for in-process. One endpoint per
 * language for now: spreading calls over several (load balancing, ejection, discovery) is issue #7
 * and not built, so a list is refused rather than silently cut to its first entry.
 */
export function remoteAddress(config: Config, language: Language): string | undefined {
  const addresses = config.runtimeUrls[language];
  if (addresses.length === 0) return undefined;
  if (addresses.length !== 1) {
    throw new ConfigError(`${language.toUpperCase()}_RUNTIME_URL lists ${addresses.length} endpoints; routing across several endpoints is not built yet (issue #7): give exactly one host:port`);
  }
  return addresses[0];
}

/** Every language's runtime: remote where configured, in-process otherwise. */
export function createRuntimes(config: Config, logger: Logger, wasmStore: () => WasmModuleStore): Runtime[] {
  return LANGUAGES.map((language) => {
    const address = remoteAddress(config, language);
    return address
      ? createRemoteRuntime({ language, address, logger: logger.child({ runtime: language, remote: address }) })
      : createLocalRuntime(language, config, logger, wasmStore);
  });
}
