/**
 * Every setting of the service in one declaration (TypeBox): its environment variable, type,
 * default, bounds and meaning. The `Config` type, the parsing and the validation all come from
 * here (config.ts walks this schema); nothing else holds a default. Settings whose default follows
 * from others are `derived` (their defaults are computed in config.ts).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** How a leaf's environment variable is read. */
export type EnvParse = 'int' | 'bool' | 'text' | 'path' | 'url' | 'oneOf' | 'list' | 'endpoints';

/** What a leaf carries besides JSON Schema. */
export interface EnvLeaf {
  readonly env: string;
  readonly parse: EnvParse;
  /** The default follows from other settings (see config.ts). */
  readonly derived?: true;
}

type Default<T> = T | 'derived';
const leafOf = <T>(env: string, parse: EnvParse, fallback: Default<T> | undefined, description?: string): EnvLeaf & Record<string, unknown> => ({
  env,
  parse,
  ...(fallback === 'derived' ? { derived: true } : fallback === undefined ? {} : { default: fallback }),
  ...(description ? { description } : {}),
});

const int = (env: string, fallback: Default<number>, minimum: number, maximum: number, description?: string) =>
  Type.Integer({ ...leafOf(env, 'int', fallback, description), minimum, maximum });
const bool = (env: string, fallback: Default<boolean>, description?: string) => Type.Boolean(leafOf(env, 'bool', fallback, description));
const text = (env: string, fallback: string, description?: string) => Type.String(leafOf(env, 'text', fallback, description));
const path = (env: string, fallback: Default<string>, description?: string) => Type.String(leafOf(env, 'path', fallback, description));
/** Unset: undefined. */
const optional = (env: string, description?: string, parse: EnvParse = 'text') => Type.Union([Type.String(), Type.Undefined()], leafOf(env, parse, undefined, description));
const oneOf = <const T extends readonly [string, ...string[]]>(env: string, values: T, fallback: T[number], description?: string) =>
  Type.Union(values.map((value) => Type.Literal<T[number]>(value)), leafOf(env, 'oneOf', fallback, description));
/** Comma- or space-separated. */
const list = (env: string, description?: string) => Type.Array(Type.String(), leafOf(env, 'list', [], description));
/** Comma-separated `host:port`, an optional `grpc://` prefix dropped. */
const endpoints = (env: string) => Type.Array(Type.String(), leafOf(env, 'endpoints', [], `static ${env.split('_')[0]?.toLowerCase()} runtime endpoints`));
const perLanguage = <S extends TSchema>(leaf: (language: 'NODEJS' | 'PYTHON' | 'RUST') => S) => Type.Object({ nodejs: leaf('NODEJS'), python: leaf('PYTHON'), rust: leaf('RUST') });

const MiB = 1_048_576;

export const ConfigSchema = Type.Object({
  host: text('HOST', '127.0.0.1'),
  port: int('PORT', 8080, 0, 65535),
  logLevel: text('LOG_LEVEL', 'info'),
  databaseUrl: optional('DATABASE_URL', 'external PostgreSQL; unset: the embedded PostgreSQL under DATA_DIR'),
  databasePoolSize: int('DATABASE_POOL_SIZE', 10, 1, 1000, 'PostgreSQL connections of one service'),
  redisUrl: optional('REDIS_URL', 'unset: an in-process cache'),
  dataDir: path('DATA_DIR', './data'),
  sessionExpirySeconds: int('SESSION_EXPIRY_SECONDS', 3600, 1, 30 * 86400),
  sessionMaxLifetimeSeconds: int('SESSION_MAX_LIFETIME_SECONDS', 86400, 1, 365 * 86400),
  sessionSweepIntervalSeconds: int('SESSION_SWEEP_INTERVAL_SECONDS', 60, 1, 86400),
  maxHotSessions: int('MAX_HOT_SESSIONS', 10_000, 1, 10_000_000, 'sessions kept in memory; the least recently used beyond are reloaded on use'),
  cacheTtlSeconds: int('CACHE_TTL_SECONDS', 3600, 0, 30 * 86400),
  redisCommandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS', 100, 5, 60_000, 'Redis commands taking longer count as failed: the service never waits on Redis'),
  redisKeyPrefix: text('REDIS_KEY_PREFIX', 'lm:', 'prefix of every key written to Redis, so deployments can share one'),
  cacheMaxEntries: int('CACHE_MAX_ENTRIES', 10_000, 1, 10_000_000, 'bound of the in-process cache (without REDIS_URL)'),
  cacheMaxBytes: int('CACHE_MAX_BYTES', 64 * MiB, 1024, 16 * 1024 * MiB),
  logMaxInMemory: int('LOG_MAX_IN_MEMORY', 10_000, 10, 10_000_000, 'request log rows kept in memory while PostgreSQL is unreachable; older ones spill to DATA_DIR/spool'),
  runtimeTimeoutSeconds: int('RUNTIME_TIMEOUT_SECONDS', 30, 1, 3600),
  defaultTimeoutMs: int('DEFAULT_TIMEOUT_MS', 30_000, 1, 3_600_000, 'capped by RUNTIME_TIMEOUT_SECONDS'),
  maxScriptSize: int('MAX_SCRIPT_SIZE', MiB, 1024, 64 * MiB),
  maxBodyBytes: int('MAX_BODY_BYTES', 'derived', 1024, 256 * MiB, 'default: room for the script JSON-escaped and a context'),
  wasmCompileTimeoutSeconds: int('WASM_COMPILE_TIMEOUT_SECONDS', 60, 1, 3600),
  runtimeMappingsFile: optional('RUNTIME_MAPPINGS_FILE'),
  runtimeUrls: perLanguage((l) => endpoints(`${l}_RUNTIME_URL`)),
  runtimeSelectionStrategy: oneOf('RUNTIME_SELECTION_STRATEGY', ['least-outstanding', 'round-robin'], 'least-outstanding', 'how a call picks one of a language\'s endpoints'),
  runtimeDiscovery: oneOf('RUNTIME_DISCOVERY', ['static', 'kubernetes'], 'static', 'static: <LANGUAGE>_RUNTIME_URL or local processes; kubernetes: EndpointSlices of the runtime Services'),
  kubernetes: Type.Object({
    namespace: text('KUBERNETES_NAMESPACE', 'default'),
    services: Type.Object({
      nodejs: text('KUBERNETES_NODEJS_SERVICE', 'lambda-runtime-nodejs'),
      python: text('KUBERNETES_PYTHON_SERVICE', 'lambda-runtime-python'),
      rust: text('KUBERNETES_RUST_SERVICE', 'lambda-runtime-rust'),
    }),
    portName: text('KUBERNETES_RUNTIME_PORT_NAME', 'grpc', 'the EndpointSlice port used; the first port when none has this name'),
    kubeconfig: optional('KUBECONFIG', 'outside a cluster (several joined with : merge as kubectl does); in a Pod the service account is used'),
    startTimeoutMs: int('KUBERNETES_START_TIMEOUT_MS', 10_000, 100, 600_000, 'how long start waits for the first EndpointSlice list before starting without endpoints'),
    retryInitialMs: int('KUBERNETES_RETRY_INITIAL_MS', 500, 1, 600_000, 'backoff after a failed list or watch: doubles from this, jittered'),
    retryMaxMs: int('KUBERNETES_RETRY_MAX_MS', 30_000, 1, 3_600_000),
    requestTimeoutMs: int('KUBERNETES_REQUEST_TIMEOUT_MS', 15_000, 100, 600_000, 'bound on one list request and on connecting one watch'),
    watchTimeoutSeconds: int('KUBERNETES_WATCH_TIMEOUT_SECONDS', 300, 1, 3600, 'asked of the API server per watch; it ends the watch then and we rewatch where we were'),
  }),
  /** Mutual TLS to runtime servers: all three files or none (config.ts reads them). */
  runtimeTlsFiles: Type.Object({
    ca: optional('RUNTIME_TLS_CA', 'the CA that signs every runtime server\'s and controller\'s certificate'),
    cert: optional('RUNTIME_TLS_CERT'),
    key: optional('RUNTIME_TLS_KEY'),
    serverName: optional('RUNTIME_TLS_SERVER_NAME', 'the name runtime certificates are checked against instead of the host dialled'),
  }),
  tracing: Type.Object({
    otlpEndpoint: optional('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTLP/HTTP collector base URL; spans are exported only when set', 'url'),
    serviceName: optional('OTEL_SERVICE_NAME', 'unset: each entry point names itself'),
  }),
  /** Calls from the service to runtimes: pools of local processes or of remote servers (gRPC). */
  runtimeCalls: Type.Object({
    maxAttempts: int('RUNTIME_MAX_ATTEMPTS', 3, 1, 16, 'endpoints tried for one call at most, the first included'),
    scriptMemoryBytes: int('RUNTIME_POOL_SCRIPT_BYTES', 64 * MiB, MiB, 16 * 1024 * MiB, 'prepared scripts a pool remembers, to resend to endpoints that lack them'),
    deadlineMarginMs: int('RUNTIME_DEADLINE_MARGIN_MS', 2000, 0, 600_000, 'added to an execute\'s time limit for its gRPC deadline: transport and queueing'),
    prepareDeadlineMs: int('RUNTIME_PREPARE_DEADLINE_MS', 180_000, 1000, 3_600_000, 'deadline of a remote prepare, which may compile (a cold Rust compile)'),
    healthIntervalMs: int('RUNTIME_HEALTH_INTERVAL_MS', 2000, 50, 600_000, 'how often a remote runtime\'s health is polled'),
    startTimeoutMs: int('RUNTIME_START_TIMEOUT_MS', 5000, 100, 600_000, 'how long a remote runtime\'s start waits for its first health answer'),
    maxMessageBytes: int('RUNTIME_MAX_MESSAGE_BYTES', 64 * MiB, MiB, 1024 * MiB, 'largest gRPC message to or from a runtime server: scripts, artifacts and results travel whole'),
  }),
  runtimeProcesses: Type.Object({
    count: Type.Object({
      nodejs: int('NODEJS_PROCESSES', 2, 1, 64),
      python: int('PYTHON_PROCESSES', 1, 1, 64),
      rust: int('RUST_PROCESSES', 1, 1, 64),
    }),
    memoryMb: perLanguage((l) => int(`${l}_PROCESS_MEMORY_MB`, 'derived', 64, 1_048_576, 'memory.max of each process\'s cgroup; default: what the runtime\'s own limits allow, plus room for the process')),
    pidsMax: int('RUNTIME_PROCESS_PIDS_MAX', 1024, 16, 1_000_000),
    cgroups: bool('RUNTIME_CGROUPS', true, 'put runtime processes in cgroups where the machine allows'),
    allowUnsandboxed: bool('RUNTIME_ALLOW_UNSANDBOXED', false, 'UNSAFE: start runtime processes without bubblewrap where it cannot run'),
  }),
  nodejs: Type.Object({
    poolSize: int('NODEJS_POOL_SIZE', 2, 1, 64, 'isolates kept warm'),
    maxPoolSize: int('NODEJS_MAX_POOL_SIZE', 16, 1, 256, 'the pool grows up to this many isolates while all are busy'),
    memoryLimitMb: int('NODEJS_MEMORY_LIMIT_MB', 64, 8, 4096, 'heap limit of each isolate'),
    contextsPerIsolate: int('NODEJS_CONTEXTS_PER_ISOLATE', 1, 1, 1024, 'warm contexts per isolate; 1: every warm session has a heap limit of its own'),
    maxScripts: int('NODEJS_MAX_SCRIPTS', 1000, 1, 1_000_000),
    maxScriptBytes: int('NODEJS_MAX_SCRIPT_BYTES', 64 * MiB, 1024, 16 * 1024 * MiB),
    prepareTimeoutMs: int('NODEJS_PREPARE_TIMEOUT_MS', 2000, 1, 600_000, 'time a module\'s top-level code has when prepare checks what it exports'),
    stopGraceMs: int('NODEJS_STOP_GRACE_MS', 5000, 0, 600_000),
    idleIsolateMs: int('NODEJS_IDLE_ISOLATE_MS', 300_000, 1000, 86_400_000, 'isolates above the pool size idle this long are disposed'),
    maxPipelinedPerIsolate: int('NODEJS_MAX_PIPELINED_PER_ISOLATE', 8, 1, 1024, 'calls of one well-behaved warm context queued on its isolate at once'),
  }),
  nodejsBundles: Type.Object({
    packagesDir: path('NODEJS_PACKAGES_DIR', 'derived', 'the npm package store scripts\' `dependencies` resolve against (filled by `npm run packages -- add NAME@VERSION`); default DATA_DIR/nodejs-packages'),
    maxBundleBytes: int('NODEJS_MAX_BUNDLE_BYTES', 16 * MiB, 1024, 1024 * MiB, 'largest esbuild bundle of a script and its dependencies'),
    timeoutMs: int('NODEJS_BUNDLE_TIMEOUT_MS', 30_000, 100, 600_000, 'time one bundle may take to build'),
    cacheBytes: int('NODEJS_BUNDLE_CACHE_BYTES', 128 * MiB, MiB, 16 * 1024 * MiB, 'bundles kept in memory (PostgreSQL keeps them all)'),
  }),
  python: Type.Object({
    poolSize: int('PYTHON_POOL_SIZE', 2, 0, 64, 'blank sandboxed workers started ahead of demand'),
    maxWorkers: int('PYTHON_MAX_WORKERS', 16, 1, 1024, 'each serves one session; the least recently used is replaced when full'),
    maxQueue: int('PYTHON_MAX_QUEUE', 256, 0, 100_000, 'calls waiting for a worker; beyond, 503'),
    memoryLimitMb: int('PYTHON_MEMORY_LIMIT_MB', 256, 32, 65_536, 'RLIMIT_AS of each worker'),
    allowUnsandboxed: bool('PYTHON_ALLOW_UNSANDBOXED', false, 'UNSAFE: run Python without bubblewrap where it cannot run'),
    pythonPath: path('PYTHON_PATH', '/usr/bin/python3', 'the interpreter (never a pyenv shim)'),
    cpuLimitSeconds: int('PYTHON_CPU_LIMIT_SECONDS', 3600, 1, 86_400, 'RLIMIT_CPU over a worker\'s life'),
    maxFileBytes: int('PYTHON_MAX_FILE_BYTES', 16 * MiB, 0, 1024 * MiB, 'RLIMIT_FSIZE'),
    tmpSizeBytes: int('PYTHON_TMP_SIZE_BYTES', 16 * MiB, 64 * 1024, 1024 * MiB, 'each worker\'s private /tmp'),
    maxOpenFiles: int('PYTHON_MAX_OPEN_FILES', 64, 16, 65_536),
    maxTmpFiles: int('PYTHON_MAX_TMP_FILES', 4096, 16, 1_000_000, 'inodes in a worker\'s /tmp; beyond, the call fails and the worker is replaced'),
    maxScripts: int('PYTHON_MAX_SCRIPTS', 1000, 1, 1_000_000),
    maxScriptBytes: int('PYTHON_MAX_SCRIPT_BYTES', 64 * MiB, 1024, 16 * 1024 * MiB),
    prepareTimeoutMs: int('PYTHON_PREPARE_TIMEOUT_MS', 5000, 1, 600_000),
    compilers: int('PYTHON_COMPILERS', 2, 1, 64, 'workers that only compile, so one slow compile holds no call'),
    startTimeoutMs: int('PYTHON_START_TIMEOUT_MS', 10_000, 100, 600_000),
    stopGraceMs: int('PYTHON_STOP_GRACE_MS', 5000, 0, 600_000),
    idleCpuMsPerSecond: int('PYTHON_IDLE_CPU_MS_PER_SECOND', 200, 10, 1000, 'CPU an idle worker may use per second before it is killed as runaway'),
    packagesDir: optional('PYTHON_PACKAGES_DIR', 'a directory of packages (e.g. a virtualenv\'s site-packages) mounted read-only in every worker at /packages, on sys.path after the standard library', 'path'),
    systemPackages: bool('PYTHON_SYSTEM_PACKAGES', false, 'Debian\'s python3-* packages (/usr/lib/python3/dist-packages) on sys.path; off, that directory is hidden in the sandbox'),
    preload: list('PYTHON_PRELOAD', 'modules (dotted names) every blank session worker imports before it is handed out, e.g. numpy,yaml'),
  }),
  rust: Type.Object({
    poolSize: int('RUST_POOL_SIZE', 2, 1, 64, 'worker threads running WebAssembly instances'),
    memoryLimitMb: int('RUST_MEMORY_LIMIT_MB', 128, 4, 4096, 'WebAssembly memory of one instance'),
    maxConcurrentCompiles: int('RUST_MAX_CONCURRENT_COMPILES', 2, 1, 64),
    toolchainDir: path('RUST_TOOLCHAIN_DIR', 'derived', 'where the crate set (src/runtimes/rust/crates.json), built once for wasm32-wasi, is kept; default DATA_DIR/wasm-toolchain'),
    maxModules: int('RUST_MAX_MODULES', 256, 1, 1_000_000, 'compiled modules kept in memory'),
    maxModuleBytes: int('RUST_MAX_MODULE_BYTES', 256 * MiB, MiB, 64 * 1024 * MiB),
    modulesPerWorker: int('RUST_MODULES_PER_WORKER', 64, 1, 100_000),
    workerHeapMb: int('RUST_WORKER_HEAP_MB', 64, 16, 4096),
    compileMemoryLimitMb: int('RUST_COMPILE_MEMORY_LIMIT_MB', 2048, 512, 65_536, 'address-space limit of one rustc run'),
    stopGraceMs: int('RUST_STOP_GRACE_MS', 5000, 0, 600_000),
  }),
  auth: Type.Object({
    jwtSecret: optional('AUTH_JWT_SECRET'),
    jwksUrl: optional('AUTH_JWKS_URL'),
    jwksFile: optional('AUTH_JWKS_FILE'),
    issuer: optional('AUTH_ISSUER'),
    audience: optional('AUTH_AUDIENCE'),
    clockToleranceSeconds: int('AUTH_CLOCK_TOLERANCE_SECONDS', 5, 0, 3600, 'clock difference tolerated on exp/nbf'),
    anonymousScopes: list('AUTH_ANONYMOUS_SCOPES', 'scopes callers without a token hold while auth is on (none: they get 401)'),
    allowUnauthenticatedNetwork: bool('ALLOW_UNAUTHENTICATED_NETWORK', false, 'explicit opt-out: listen beyond loopback with no auth'),
  }),
  corsOrigins: list('CORS_ORIGINS'),
  rateLimits: Type.Object({
    enabled: bool('RATE_LIMIT_ENABLED', 'derived', 'default: on once callers are told apart (auth configured)'),
    executeAuthenticatedPerMinute: int('RATE_LIMIT_EXECUTE_PER_MINUTE', 100, 1, 10_000_000),
    executeAnonymousPerMinute: int('RATE_LIMIT_EXECUTE_ANONYMOUS_PER_MINUTE', 10, 1, 10_000_000),
    functionsPerMinute: int('RATE_LIMIT_FUNCTIONS_PER_MINUTE', 60, 1, 10_000_000),
  }),
  maxParamsBytes: int('MAX_PARAMS_BYTES', 262_144, 2, 64 * MiB),
  maxContextBytes: int('MAX_CONTEXT_BYTES', 65_536, 2, 16 * MiB),
  maxJsonDepth: int('MAX_JSON_DEPTH', 32, 1, 1000),
  maxHeaderBytes: int('MAX_HEADER_BYTES', 16_384, 1024, MiB),
  trustProxy: bool('TRUST_PROXY', false),
  maxLogEntries: int('MAX_LOG_ENTRIES', 100, 0, 100_000, 'log lines kept per invocation; a marker line follows when some are dropped or cut'),
  maxLogBytes: int('MAX_LOG_BYTES', 65_536, 0, 16 * MiB, 'UTF-8 bytes of log lines kept per invocation, the marker aside'),
  maxResultBytes: int('MAX_RESULT_BYTES', MiB, 1024, 64 * MiB, 'a result whose JSON is bigger is refused with output_limit'),
  logFlushIntervalMs: int('LOG_FLUSH_INTERVAL_MS', 200, 10, 60_000),
  logBatchSize: int('LOG_BATCH_SIZE', 500, 1, 10_000),
  logWriteConcurrency: int('LOG_WRITE_CONCURRENCY', 2, 1, 64, 'request log batches written at once while PostgreSQL answers'),
  admission: Type.Object({
    service: int('MAX_CONCURRENT_EXECUTES', 512, 0, 1_000_000, 'executes in flight at most (0: unbounded); beyond, 429 at once'),
    perFunction: int('MAX_CONCURRENT_EXECUTES_PER_FUNCTION', 0, 0, 1_000_000),
    perSession: int('MAX_CONCURRENT_EXECUTES_PER_SESSION', 0, 0, 1_000_000),
    retryAfterSeconds: int('OVERLOAD_RETRY_AFTER_SECONDS', 1, 1, 3600),
  }),
  metricsToken: optional('METRICS_TOKEN', 'when set, GET /metrics wants Authorization: Bearer <token>'),
  authFailuresPerMinute: int('AUTH_FAILURES_PER_MINUTE', 30, 0, 1_000_000, 'failed authentications per client address and minute, then 429; 0: no bound'),
  shutdownGraceMs: int('SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
});

export type ConfigValues = Static<typeof ConfigSchema>;
