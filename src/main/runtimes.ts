/**
 * Which runtime serves each language: in-process by default, or a pool of remote runtime servers
 * (proto/runtime.proto) listed in `<LANGUAGE>_RUNTIME_URL` or discovered in Kubernetes. The
 * runtime server entry point builds its in-process runtime here too, so both configure it alike.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { EndpointSource } from '../discovery/endpoint-source.js';
import { createKubernetesEndpointSource } from '../discovery/kubernetes-endpoints.js';
import { createRemoteRuntime } from '../rpc/remote-runtime.js';
import { createRuntimePool, RuntimePool } from '../rpc/runtime-pool.js';
import { createNodejsRuntime } from '../runtimes/nodejs/nodejs-runtime.js';
import { createPythonRuntime } from '../runtimes/python/python-runtime.js';
import { LANGUAGES, type Language, type Runtime } from '../runtimes/runtime.js';
import { createRustRuntime } from '../runtimes/wasm/rust-runtime.js';
import type { WasmModuleStore } from '../runtimes/wasm/wasm-module-store.js';

/** One language's in-process runtime, configured from the service's configuration. */
export function createLocalRuntime(language: Language, config: Config, logger: Logger, wasmStore: () => WasmModuleStore): Runtime {
  // What one invocation may return: the same bounds in every language.
  const outputLimits = { maxLogEntries: config.maxLogEntries, maxLogBytes: config.maxLogBytes, maxResultBytes: config.maxResultBytes };
  switch (language) {
    case 'nodejs':
      return createNodejsRuntime({
        logger: logger.child({ runtime: 'nodejs' }),
        poolSize: config.nodejs.poolSize,
        maxPoolSize: config.nodejs.maxPoolSize,
        memoryLimitMb: config.nodejs.memoryLimitMb,
        ...outputLimits,
      });
    case 'python':
      return createPythonRuntime({
        logger: logger.child({ runtime: 'python' }),
        poolSize: config.python.poolSize,
        maxWorkers: config.python.maxWorkers,
        maxQueue: config.python.maxQueue,
        memoryLimitMb: config.python.memoryLimitMb,
        allowUnsandboxed: config.python.allowUnsandboxed,
        ...outputLimits,
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
        ...outputLimits,
      });
  }
}

/** The runtimes of every language, and the discovery that keeps remote endpoint sets current (if any). */
export interface RuntimeWiring {
  readonly runtimes: readonly Runtime[];
  /** The runtimes among them that are pools of remote endpoints. */
  readonly pools: readonly RuntimePool[];
  /** Feeds the pools' endpoint sets; started after the runtimes, stopped before them. */
  readonly discovery: EndpointSource | undefined;
  /** Connects the discovery to the pools: call once the runtimes have started. */
  startDiscovery(): Promise<void>;
}

function createPool(language: Language, config: Config, logger: Logger, origin: string, endpoints: readonly string[]): RuntimePool {
  const poolLogger = logger.child({ runtime: language, remote: true });
  return createRuntimePool({
    language,
    strategy: config.runtimeSelectionStrategy,
    logger: poolLogger,
    origin,
    endpoints,
    connect: (address) => createRemoteRuntime({ language, address, logger: poolLogger.child({ endpoint: address }) }),
  });
}

/**
 * Every language's runtime: in-process by default; a pool of gRPC endpoints where
 * `<LANGUAGE>_RUNTIME_URL` lists some; with RUNTIME_DISCOVERY=kubernetes, a pool per language fed
 * from the EndpointSlices of its Service.
 */
export function createRuntimes(config: Config, logger: Logger, wasmStore: () => WasmModuleStore): RuntimeWiring {
  if (config.runtimeDiscovery === 'kubernetes') {
    const { namespace, services } = config.kubernetes;
    const pools = new Map(LANGUAGES.map((language) => [language, createPool(language, config, logger, `Service ${namespace}/${services[language]}`, [])]));
    const discovery = createKubernetesEndpointSource({
      namespace,
      services,
      portName: config.kubernetes.portName,
      ...(config.kubernetes.kubeconfig ? { kubeconfigPath: config.kubernetes.kubeconfig } : {}),
      logger: logger.child({ component: 'kubernetes-discovery' }),
    });
    return {
      runtimes: [...pools.values()],
      pools: [...pools.values()],
      discovery,
      startDiscovery: () => discovery.start((language, addresses) => pools.get(language)?.setEndpoints(addresses)),
    };
  }
  const runtimes = LANGUAGES.map((language) => {
    const endpoints = config.runtimeUrls[language];
    return endpoints.length > 0 ? createPool(language, config, logger, `${language.toUpperCase()}_RUNTIME_URL`, endpoints) : createLocalRuntime(language, config, logger, wasmStore);
  });
  return { runtimes, pools: runtimes.filter((r): r is RuntimePool => r instanceof RuntimePool), discovery: undefined, startDiscovery: () => Promise.resolve() };
}
