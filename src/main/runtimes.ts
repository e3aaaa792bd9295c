/**
 * Which runtime serves each language. Untrusted code never runs in the service process: by
 * default each language is a pool of local runtime processes (sandboxed children of the service,
 * src/rpc/process-runtime.ts); with `<LANGUAGE>_RUNTIME_URL` a pool of remote runtime servers
 * (proto/runtime.proto); with RUNTIME_DISCOVERY=kubernetes one fed from the EndpointSlices of each
 * language's Service. All three are the same RuntimePool, so balancing, ejection, retries and
 * re-prepare are one code path. What runs inside a runtime process is in local-runtimes.ts.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Config } from '../config/config.js';
import { PROJECT_ROOT, projectPath } from '../config/paths.js';
import type { EndpointSource } from '../discovery/endpoint-source.js';
import type { Logger } from '../observability/logger.js';
import { createProcessRuntime } from '../rpc/process-runtime.js';
import { createRemoteRuntime } from '../rpc/remote-runtime.js';
import { createRuntimePool, RuntimePool, type EndpointRuntime } from '../rpc/runtime-pool.js';
import { LANGUAGES, type Language, type Runtime } from '../runtimes/runtime.js';
import { BundlingRuntime } from '../runtimes/nodejs/bundle/bundling-runtime.js';
import { PackageStore } from '../runtimes/nodejs/bundle/package-store.js';
import type { ModuleStore } from '../runtimes/kit/module-store.js';
import { detectCgroups, type CgroupSupport } from '../sandbox/cgroup.js';
import { SANDBOX_UID } from '../sandbox/host.js';
import { planRuntimeProcess, sandboxWritableDir } from '../sandbox/runtime-sandbox.js';
import { pythonSandboxMounts } from '../runtimes/python/packages.js';
import { localRuntimeSettings, outputLimitsOf, type RuntimeProcessSettings } from './local-runtimes.js';

/** The runtimes of every language, and the discovery that keeps remote endpoint sets current (if any). */
export interface RuntimeWiring {
  readonly runtimes: readonly Runtime[];
  /** Every runtime here is a pool: of local runtime processes or of remote endpoints. */
  readonly pools: readonly RuntimePool[];
  /** Feeds the pools' endpoint sets; started after the runtimes, stopped before them. */
  readonly discovery: EndpointSource | undefined;
  /** Connects the discovery to the pools: call once the runtimes have started. */
  startDiscovery(): Promise<void>;
  /** Releases what the runtime processes held (their cgroups): call after the runtimes stopped. */
  close(): void;
}

/** Largest frame between the service and a runtime process: a script, an artifact or a result travels whole. */
const MAX_FRAME_BYTES = 96 * 1024 * 1024;
/** How long a runtime process may take to start: the Rust one builds serde_json on a first start. */
const START_TIMEOUT_MS: Readonly<Record<Language, number>> = { nodejs: 60_000, python: 60_000, rust: 600_000 };

interface ProcessEntry {
  readonly execArgv: string[];
  readonly script: string;
  readonly extraBinds: Array<{ source: string; target: string }>;
}

/**
 * How node runs a runtime process: compiled (`npm start`), or from the sources through tsx when the
 * service itself runs from them (development, tests), with tsx's transpile cache kept across
 * processes in a host directory of the sandbox uid's own (a cold cache costs each process ~0.5 s).
 */
function processEntry(): ProcessEntry {
  if (!fileURLToPath(import.meta.url).endsWith('.ts')) {
    return { execArgv: ['--no-node-snapshot'], script: projectPath('dist', 'src', 'main', 'runtime-process-main.js'), extraBinds: [] };
  }
  const cache = sandboxWritableDir(join(tmpdir(), `lambda-runtime-process-tsx-${SANDBOX_UID}`));
  return {
    execArgv: ['--no-node-snapshot', '--import', 'tsx'],
    script: projectPath('src', 'main', 'runtime-process-main.ts'),
    extraBinds: [{ source: cache, target: `/tmp/tsx-${SANDBOX_UID}` }],
  };
}

/** One language's pool of local runtime processes (`<LANGUAGE>_PROCESSES` of them). */
export function createProcessRuntimePool(language: Language, config: Config, logger: Logger, cgroups: CgroupSupport, moduleStore: () => ModuleStore): RuntimePool {
  const poolLogger = logger.child({ runtime: language });
  const entry = processEntry();
  const settings: RuntimeProcessSettings = { language, logLevel: config.logLevel, maxFrameBytes: MAX_FRAME_BYTES, runtime: localRuntimeSettings(config) };
  const store = language === 'rust' ? moduleStore() : undefined;
  const count = config.runtimeProcesses.count[language];
  return createRuntimePool({
    language,
    strategy: config.runtimeSelectionStrategy,
    logger: poolLogger,
    origin: `${count} local runtime process${count === 1 ? '' : 'es'}`,
    kind: 'process',
    calls: config.runtimeCalls,
    endpoints: Array.from({ length: count }, (_, i) => `process:${language}/${i + 1}`),
    connect: (address): EndpointRuntime =>
      createProcessRuntime({
        language,
        address,
        logger: poolLogger.child({ endpoint: address }),
        launch: () =>
          planRuntimeProcess({
            language,
            projectRoot: PROJECT_ROOT,
            execPath: process.execPath,
            execArgv: entry.execArgv,
            script: entry.script,
            writableDirs: language === 'rust' ? [sandboxWritableDir(config.rust.toolchainDir)] : [],
            readOnlyDirs: language === 'python' ? pythonSandboxMounts(config.python) : [],
            extraBinds: entry.extraBinds,
            nestedSandboxes: language !== 'nodejs',
            allowUnsandboxed: config.runtimeProcesses.allowUnsandboxed,
          }),
        settings: settings as unknown as Record<string, unknown>,
        outputLimits: outputLimitsOf(config),
        cgroups,
        cgroupLimits: { memoryBytes: config.runtimeProcesses.memoryMb[language] * 1024 * 1024, pids: config.runtimeProcesses.pidsMax },
        ...(store ? { store } : {}),
        startTimeoutMs: START_TIMEOUT_MS[language],
        stopGraceMs: config.shutdownGraceMs,
        prepareTimeoutMs: 2 * config.wasmCompileTimeoutSeconds * 1000 + 60_000,
        maxFrameBytes: MAX_FRAME_BYTES,
      }),
  });
}

function createRemotePool(language: Language, config: Config, logger: Logger, origin: string, endpoints: readonly string[]): RuntimePool {
  const poolLogger = logger.child({ runtime: language, remote: true });
  return createRuntimePool({
    language,
    strategy: config.runtimeSelectionStrategy,
    logger: poolLogger,
    origin,
    kind: 'remote',
    endpoints,
    calls: config.runtimeCalls,
    connect: (address) =>
      createRemoteRuntime({ language, address, logger: poolLogger.child({ endpoint: address }), timing: config.runtimeCalls, outputLimits: outputLimitsOf(config), tls: config.runtimeTls }),
  });
}

/** The Node.js pool behind the bundler (ES modules, TypeScript, npm packages), which runs in this process. */
function withBundler(pools: readonly RuntimePool[], config: Config, logger: Logger, moduleStore: () => ModuleStore): Runtime[] {
  return pools.map((pool) =>
    pool.language !== 'nodejs'
      ? pool
      : new BundlingRuntime(pool, { ...config.nodejsBundles, store: new PackageStore(config.nodejsBundles.packagesDir), modules: moduleStore(), logger: logger.child({ component: 'nodejs-bundler' }) }),
  );
}

/**
 * Every language's runtime: local runtime processes by default; a pool of gRPC endpoints where
 * `<LANGUAGE>_RUNTIME_URL` lists some; with RUNTIME_DISCOVERY=kubernetes, a pool per language fed
 * from the EndpointSlices of its Service.
 */
export async function createRuntimes(config: Config, logger: Logger, moduleStore: () => ModuleStore): Promise<RuntimeWiring> {
  if (config.runtimeDiscovery === 'kubernetes') {
    // Loaded only in this mode: the Kubernetes client takes about half a second to import.
    const { createKubernetesEndpointSource } = await import('../discovery/kubernetes-endpoints.js');
    const { namespace, services } = config.kubernetes;
    const pools = new Map(LANGUAGES.map((language) => [language, createRemotePool(language, config, logger, `Service ${namespace}/${services[language]}`, [])]));
    const discovery = createKubernetesEndpointSource({ ...config.kubernetes, logger: logger.child({ component: 'kubernetes-discovery' }) });
    return {
      runtimes: withBundler([...pools.values()], config, logger, moduleStore),
      pools: [...pools.values()],
      discovery,
      startDiscovery: () => discovery.start((language, addresses) => pools.get(language)?.setEndpoints(addresses)),
      close: () => undefined,
    };
  }
  const local = LANGUAGES.filter((language) => config.runtimeUrls[language].length === 0);
  const cgroups = local.length > 0 ? detectCgroups(config.runtimeProcesses.cgroups) : undefined;
  if (cgroups?.kind === 'none') logger.warn({ reason: cgroups.reason }, 'runtime processes run without cgroups: memory outside V8 heaps and process counts are bounded only by the sandbox');
  const pools = LANGUAGES.map((language) => {
    const endpoints = config.runtimeUrls[language];
    return endpoints.length > 0
      ? createRemotePool(language, config, logger, `${language.toUpperCase()}_RUNTIME_URL`, endpoints)
      : createProcessRuntimePool(language, config, logger, cgroups as CgroupSupport, moduleStore);
  });
  return { runtimes: withBundler(pools, config, logger, moduleStore), pools, discovery: undefined, startDiscovery: () => Promise.resolve(), close: () => cgroups?.close() };
}
