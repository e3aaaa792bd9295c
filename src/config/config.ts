/**
 * The service's configuration: one schema with defaults, parsed once from the environment and
 * frozen. Nothing else in the code base reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  /** External PostgreSQL; when absent the embedded PostgreSQL under `dataDir` is used. */
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly dataDir: string;
  readonly sessionExpirySeconds: number;
  readonly sessionMaxLifetimeSeconds: number;
  readonly sessionSweepIntervalSeconds: number;
  readonly cacheTtlSeconds: number;
  /** Redis commands taking longer than this count as failed (the service never waits on Redis). */
  readonly redisCommandTimeoutMs: number;
  /** Prefix of every key this service writes to Redis (several deployments or test runs can share one). */
  readonly redisKeyPrefix: string;
  /** The embedded (in-process) cache's bounds, used without REDIS_URL. */
  readonly cacheMaxEntries: number;
  readonly cacheMaxBytes: number;
  /** Request log rows kept in memory while PostgreSQL is unreachable; older ones spill to DATA_DIR/spool. */
  readonly logMaxInMemory: number;
  readonly runtimeTimeoutSeconds: number;
  readonly defaultTimeoutMs: number;
  readonly maxScriptSize: number;
  readonly maxBodyBytes: number;
  readonly wasmCompileTimeoutSeconds: number;
  readonly runtimeMappingsFile: string | undefined;
  /** Static runtime endpoints per language (`<LANGUAGE>_RUNTIME_URL`, comma-separated host:port); empty: none. */
  readonly runtimeUrls: Readonly<Record<RuntimeLanguage, readonly string[]>>;
  /** How a call picks one of a language's endpoints. */
  readonly runtimeSelectionStrategy: RuntimeSelectionStrategy;
  /** `static`: endpoints from `<LANGUAGE>_RUNTIME_URL` (or in-process); `kubernetes`: EndpointSlices of the runtime Services. */
  readonly runtimeDiscovery: 'static' | 'kubernetes';
  readonly kubernetes: {
    readonly namespace: string;
    /** The Service whose EndpointSlices are each language's runtime endpoints. */
    readonly services: Readonly<Record<RuntimeLanguage, string>>;
    /** The EndpointSlice port used (by name); the first port when no port has this name. */
    readonly portName: string;
    /** A kubeconfig file to use outside a cluster; in a Pod the in-cluster service account is used. */
    readonly kubeconfig: string | undefined;
  };
  /**
   * Mutual TLS between the controller and runtime servers (RUNTIME_TLS_CA/CERT/KEY, all three or
   * none, read at start); undefined: plaintext gRPC.
   */
  readonly runtimeTls: RuntimeTlsConfig | undefined;
  readonly tracing: {
    /** OTLP/HTTP collector base URL; spans are exported only when set. */
    readonly otlpEndpoint: string | undefined;
    /** OTEL_SERVICE_NAME; unset, each entry point names itself (`lambda-microservice`, `lambda-runtime-<language>`). */
    readonly serviceName: string | undefined;
  };
  /**
   * Local runtime processes (where no runtime URL or discovery is set): how many per language, and
   * the limits of each (src/sandbox/runtime-sandbox.ts, cgroup.ts).
   */
  readonly runtimeProcesses: {
    readonly count: Readonly<Record<RuntimeLanguage, number>>;
    /** memory.max of each process's cgroup, in MiB, everything it and its children use included. */
    readonly memoryMb: Readonly<Record<RuntimeLanguage, number>>;
    /** pids.max of each process's cgroup (processes and threads). */
    readonly pidsMax: number;
    /** Put runtime processes in cgroups where the machine allows (RUNTIME_CGROUPS). */
    readonly cgroups: boolean;
    /** UNSAFE: start runtime processes without bubblewrap where it cannot run. */
    readonly allowUnsandboxed: boolean;
  };
  readonly nodejs: {
    readonly poolSize: number;
    readonly maxPoolSize: number;
    readonly memoryLimitMb: number;
  };
  readonly python: {
    /** Blank sandboxed workers kept started ahead of demand. */
    readonly poolSize: number;
    /** Worker processes at most; each serves one session (its warm state), LRU-evicted when full. */
    readonly maxWorkers: number;
    /** Calls waiting for a worker at most; beyond, 503 RUNTIME_UNAVAILABLE. */
    readonly maxQueue: number;
    /** Address-space limit (RLIMIT_AS) of each worker. */
    readonly memoryLimitMb: number;
    /** UNSAFE: run Python without bubblewrap where it cannot run (scripts then see the host). */
    readonly allowUnsandboxed: boolean;
  };
  readonly rust: {
    /** Worker threads running WebAssembly instances. */
    readonly poolSize: number;
    /** Memory maximum of each WebAssembly instance. */
    readonly memoryLimitMb: number;
    readonly maxConcurrentCompiles: number;
    /** Where serde_json, built once for wasm32-wasi, is kept between compiles and restarts. */
    readonly toolchainDir: string;
  };
  readonly auth: {
    readonly jwtSecret: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly jwksFile: string | undefined;
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
    /** Scopes callers without a token hold while auth is on (none by default: they get 401). */
    readonly anonymousScopes: readonly string[];
    /** Explicit opt-out: listen beyond loopback with no auth configured. */
    readonly allowUnauthenticatedNetwork: boolean;
  };
  readonly corsOrigins: readonly string[];
  readonly rateLimits: {
    readonly enabled: boolean;
    readonly executeAuthenticatedPerMinute: number;
    readonly executeAnonymousPerMinute: number;
    readonly functionsPerMinute: number;
  };
  /** Bounds of `params` and `context` (JSON bytes and nesting depth). */
  readonly maxParamsBytes: number;
  readonly maxContextBytes: number;
  readonly maxJsonDepth: number;
  readonly maxHeaderBytes: number;
  readonly trustProxy: boolean;
  readonly maxLogEntries: number;
  readonly maxLogBytes: number;
  readonly maxResultBytes: number;
  readonly logFlushIntervalMs: number;
  readonly logBatchSize: number;
  /** Executes in flight at most, service-wide / per function / per session (0: no bound of its own); beyond: 429 at once. */
  readonly admission: {
    readonly service: number;
    readonly perFunction: number;
    readonly perSession: number;
    readonly retryAfterSeconds: number;
  };
  /** When set, GET /metrics wants `Authorization: Bearer <token>`. */
  readonly metricsToken: string | undefined;
  /** Failed authentications allowed per client address and minute (then 429); 0: no bound. */
  readonly authFailuresPerMinute: number;
  readonly shutdownGraceMs: number;
  readonly version: string;
}

export type RuntimeLanguage = 'nodejs' | 'python' | 'rust';
export type RuntimeSelectionStrategy = 'least-outstanding' | 'round-robin';

/** PEM contents of the files named by RUNTIME_TLS_CA, RUNTIME_TLS_CERT and RUNTIME_TLS_KEY. */
export interface RuntimeTlsConfig {
  /** The CA that signs every runtime server's and controller's certificate (both sides check the peer against it). */
  readonly ca: Buffer;
  /** This side's certificate chain. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** RUNTIME_TLS_SERVER_NAME: the name a runtime server's certificate is checked against instead of the host (or IP) dialled. */
  readonly serverName: string | undefined;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function str(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (/^(true|1|yes|on)$/i.test(raw)) return true;
  if (/^(false|0|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/** A comma- or space-separated list. */
function list(env: Env, name: string): string[] {
  return (str(env, name) ?? '').split(/[\s,]+/).filter(Boolean);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** A comma-separated list of `host:port` (an optional `grpc://` prefix is dropped). */
function endpoints(env: Env, name: string): string[] {
  const addresses = (str(env, name) ?? '').split(',').map((a) => a.trim().replace(/^grpc:\/\//, '')).filter(Boolean);
  for (const address of addresses) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) throw new ConfigError(`${name}: "${address}" is not host:port`);
  }
  return [...new Set(addresses)];
}

/** An http(s) URL (a collector's base URL). */
function httpUrl(env: Env, name: string): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

const RUNTIME_TLS_FILES = { ca: 'RUNTIME_TLS_CA', cert: 'RUNTIME_TLS_CERT', key: 'RUNTIME_TLS_KEY' } as const;

/** RUNTIME_TLS_*: all three files or none (plaintext); each read now, so a bad path fails the start naming it. */
function runtimeTls(env: Env): RuntimeTlsConfig | undefined {
  const names = Object.values(RUNTIME_TLS_FILES);
  const set = names.filter((name) => str(env, name) !== undefined);
  const serverName = str(env, 'RUNTIME_TLS_SERVER_NAME');
  if (set.length === 0) {
    if (serverName !== undefined) throw new ConfigError(`RUNTIME_TLS_SERVER_NAME is set but runtime TLS is not: set ${names.join(', ')} too`);
    return undefined;
  }
  const missing = names.filter((name) => !set.includes(name));
  if (missing.length > 0) throw new ConfigError(`runtime TLS is partly configured: ${set.join(' and ')} set, ${missing.join(' and ')} missing (set all three for mutual TLS, none for plaintext)`);
  if (serverName !== undefined && !/^[A-Za-z0-9.-]+$/.test(serverName)) throw new ConfigError(`RUNTIME_TLS_SERVER_NAME must be a host name, got "${serverName}"`);
  const read = (name: string): Buffer => {
    const path = resolve(str(env, name) ?? '');
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (error) {
      throw new ConfigError(`${name}: cannot read ${path}: ${(error as Error).message}`);
    }
    if (!pem.includes('-----BEGIN ')) throw new ConfigError(`${name}: ${path} is not a PEM file`);
    return pem;
  };
  return { ca: read(RUNTIME_TLS_FILES.ca), cert: read(RUNTIME_TLS_FILES.cert), key: read(RUNTIME_TLS_FILES.key), serverName };
}

/** Parses the environment once; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env, version = '0.0.0'): Config {
  const runtimeTimeoutSeconds = int(env, 'RUNTIME_TIMEOUT_SECONDS', 30, 1, 3600);
  const maxScriptSize = int(env, 'MAX_SCRIPT_SIZE', 1_048_576, 1024, 64 * 1_048_576);
  const dataDir = resolve(str(env, 'DATA_DIR') ?? './data');
  const nodejs = {
    poolSize: int(env, 'NODEJS_POOL_SIZE', 2, 1, 64),
    maxPoolSize: int(env, 'NODEJS_MAX_POOL_SIZE', 16, 1, 256),
    memoryLimitMb: int(env, 'NODEJS_MEMORY_LIMIT_MB', 64, 8, 4096),
  };
  const python = {
    poolSize: int(env, 'PYTHON_POOL_SIZE', 2, 0, 64),
    maxWorkers: int(env, 'PYTHON_MAX_WORKERS', 16, 1, 1024),
    maxQueue: int(env, 'PYTHON_MAX_QUEUE', 256, 0, 100_000),
    memoryLimitMb: int(env, 'PYTHON_MEMORY_LIMIT_MB', 256, 32, 65_536),
    allowUnsandboxed: bool(env, 'PYTHON_ALLOW_UNSANDBOXED', false),
  };
  const rust = {
    poolSize: int(env, 'RUST_POOL_SIZE', 2, 1, 64),
    memoryLimitMb: int(env, 'RUST_MEMORY_LIMIT_MB', 128, 4, 4096),
    maxConcurrentCompiles: int(env, 'RUST_MAX_CONCURRENT_COMPILES', 2, 1, 64),
    toolchainDir: resolve(str(env, 'RUST_TOOLCHAIN_DIR') ?? join(dataDir, 'wasm-toolchain')),
  };
  const config: Config = {
    host: str(env, 'HOST') ?? '127.0.0.1',
    port: int(env, 'PORT', 8080, 0, 65535),
    logLevel: str(env, 'LOG_LEVEL') ?? 'info',
    databaseUrl: str(env, 'DATABASE_URL'),
    redisUrl: str(env, 'REDIS_URL'),
    dataDir,
    sessionExpirySeconds: int(env, 'SESSION_EXPIRY_SECONDS', 3600, 1, 30 * 86400),
    sessionMaxLifetimeSeconds: int(env, 'SESSION_MAX_LIFETIME_SECONDS', 86400, 1, 365 * 86400),
    sessionSweepIntervalSeconds: int(env, 'SESSION_SWEEP_INTERVAL_SECONDS', 60, 1, 86400),
    cacheTtlSeconds: int(env, 'CACHE_TTL_SECONDS', 3600, 0, 30 * 86400),
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 100, 5, 60_000),
    redisKeyPrefix: str(env, 'REDIS_KEY_PREFIX') ?? 'lm:',
    cacheMaxEntries: int(env, 'CACHE_MAX_ENTRIES', 10_000, 1, 10_000_000),
    cacheMaxBytes: int(env, 'CACHE_MAX_BYTES', 64 * 1_048_576, 1024, 16 * 1024 * 1_048_576),
    logMaxInMemory: int(env, 'LOG_MAX_IN_MEMORY', 10_000, 10, 10_000_000),
    runtimeTimeoutSeconds,
    defaultTimeoutMs: Math.min(runtimeTimeoutSeconds * 1000, int(env, 'DEFAULT_TIMEOUT_MS', 30_000, 1, 3_600_000)),
    maxScriptSize,
    // The body carries the script JSON-escaped plus a context: leave room for both.
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', maxScriptSize * 2 + 65_536, 1024, 256 * 1_048_576),
    wasmCompileTimeoutSeconds: int(env, 'WASM_COMPILE_TIMEOUT_SECONDS', 60, 1, 3600),
    runtimeMappingsFile: str(env, 'RUNTIME_MAPPINGS_FILE'),
    runtimeUrls: {
      nodejs: endpoints(env, 'NODEJS_RUNTIME_URL'),
      python: endpoints(env, 'PYTHON_RUNTIME_URL'),
      rust: endpoints(env, 'RUST_RUNTIME_URL'),
    },
    runtimeSelectionStrategy: oneOf(env, 'RUNTIME_SELECTION_STRATEGY', ['least-outstanding', 'round-robin'] as const, 'least-outstanding'),
    runtimeDiscovery: oneOf(env, 'RUNTIME_DISCOVERY', ['static', 'kubernetes'] as const, 'static'),
    kubernetes: {
      namespace: str(env, 'KUBERNETES_NAMESPACE') ?? 'default',
      services: {
        nodejs: str(env, 'KUBERNETES_NODEJS_SERVICE') ?? 'lambda-runtime-nodejs',
        python: str(env, 'KUBERNETES_PYTHON_SERVICE') ?? 'lambda-runtime-python',
        rust: str(env, 'KUBERNETES_RUST_SERVICE') ?? 'lambda-runtime-rust',
      },
      portName: str(env, 'KUBERNETES_RUNTIME_PORT_NAME') ?? 'grpc',
      kubeconfig: str(env, 'KUBECONFIG'),
    },
    runtimeTls: runtimeTls(env),
    tracing: {
      otlpEndpoint: httpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT'),
      serviceName: str(env, 'OTEL_SERVICE_NAME'),
    },
    runtimeProcesses: {
      count: {
        nodejs: int(env, 'NODEJS_PROCESSES', 2, 1, 64),
        python: int(env, 'PYTHON_PROCESSES', 1, 1, 64),
        rust: int(env, 'RUST_PROCESSES', 1, 1, 64),
      },
      // Defaults: what the runtime's own limits allow at most, plus room for the process itself.
      memoryMb: {
        nodejs: int(env, 'NODEJS_PROCESS_MEMORY_MB', nodejs.maxPoolSize * nodejs.memoryLimitMb + 512, 64, 1_048_576),
        python: int(env, 'PYTHON_PROCESS_MEMORY_MB', python.maxWorkers * python.memoryLimitMb + 512, 64, 1_048_576),
        rust: int(env, 'RUST_PROCESS_MEMORY_MB', rust.maxConcurrentCompiles * 1024 + rust.poolSize * rust.memoryLimitMb + 768, 64, 1_048_576),
      },
      pidsMax: int(env, 'RUNTIME_PROCESS_PIDS_MAX', 1024, 16, 1_000_000),
      cgroups: bool(env, 'RUNTIME_CGROUPS', true),
      allowUnsandboxed: bool(env, 'RUNTIME_ALLOW_UNSANDBOXED', false),
    },
    nodejs,
    python,
    rust,
    auth: {
      jwtSecret: str(env, 'AUTH_JWT_SECRET'),
      jwksUrl: str(env, 'AUTH_JWKS_URL'),
      jwksFile: str(env, 'AUTH_JWKS_FILE'),
      issuer: str(env, 'AUTH_ISSUER'),
      audience: str(env, 'AUTH_AUDIENCE'),
      anonymousScopes: list(env, 'AUTH_ANONYMOUS_SCOPES'),
      allowUnauthenticatedNetwork: bool(env, 'ALLOW_UNAUTHENTICATED_NETWORK', false),
    },
    corsOrigins: list(env, 'CORS_ORIGINS'),
    rateLimits: {
      // On by default once callers are told apart (auth on); a loopback-only dev default is unlimited.
      enabled: bool(env, 'RATE_LIMIT_ENABLED', Boolean(str(env, 'AUTH_JWT_SECRET') ?? str(env, 'AUTH_JWKS_URL') ?? str(env, 'AUTH_JWKS_FILE'))),
      executeAuthenticatedPerMinute: int(env, 'RATE_LIMIT_EXECUTE_PER_MINUTE', 100, 1, 10_000_000),
      executeAnonymousPerMinute: int(env, 'RATE_LIMIT_EXECUTE_ANONYMOUS_PER_MINUTE', 10, 1, 10_000_000),
      functionsPerMinute: int(env, 'RATE_LIMIT_FUNCTIONS_PER_MINUTE', 60, 1, 10_000_000),
    },
    maxParamsBytes: int(env, 'MAX_PARAMS_BYTES', 262_144, 2, 64 * 1_048_576),
    maxContextBytes: int(env, 'MAX_CONTEXT_BYTES', 65_536, 2, 16 * 1_048_576),
    maxJsonDepth: int(env, 'MAX_JSON_DEPTH', 32, 1, 1000),
    maxHeaderBytes: int(env, 'MAX_HEADER_BYTES', 16_384, 1024, 1_048_576),
    trustProxy: bool(env, 'TRUST_PROXY', false),
    maxLogEntries: int(env, 'MAX_LOG_ENTRIES', 100, 0, 100_000),
    maxLogBytes: int(env, 'MAX_LOG_BYTES', 65_536, 0, 16 * 1_048_576),
    maxResultBytes: int(env, 'MAX_RESULT_BYTES', 1_048_576, 1024, 64 * 1_048_576),
    logFlushIntervalMs: int(env, 'LOG_FLUSH_INTERVAL_MS', 200, 10, 60_000),
    logBatchSize: int(env, 'LOG_BATCH_SIZE', 500, 1, 10_000),
    admission: {
      service: int(env, 'MAX_CONCURRENT_EXECUTES', 512, 0, 1_000_000),
      perFunction: int(env, 'MAX_CONCURRENT_EXECUTES_PER_FUNCTION', 0, 0, 1_000_000),
      perSession: int(env, 'MAX_CONCURRENT_EXECUTES_PER_SESSION', 0, 0, 1_000_000),
      retryAfterSeconds: int(env, 'OVERLOAD_RETRY_AFTER_SECONDS', 1, 1, 3600),
    },
    metricsToken: str(env, 'METRICS_TOKEN'),
    authFailuresPerMinute: int(env, 'AUTH_FAILURES_PER_MINUTE', 30, 0, 1_000_000),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    version,
  };
  const authConfigured = Boolean(config.auth.jwtSecret ?? config.auth.jwksUrl ?? config.auth.jwksFile);
  if ([config.auth.jwtSecret, config.auth.jwksUrl, config.auth.jwksFile].filter(Boolean).length > 1) {
    throw new ConfigError('set only one of AUTH_JWT_SECRET, AUTH_JWKS_URL and AUTH_JWKS_FILE');
  }
  if (!authConfigured && !isLoopback(config.host) && !config.auth.allowUnauthenticatedNetwork) {
    throw new ConfigError(
      `HOST=${config.host} is not a loopback address and no authentication is configured: set AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE, or opt out explicitly with ALLOW_UNAUTHENTICATED_NETWORK=true`,
    );
  }
  if (config.runtimeDiscovery === 'kubernetes') {
    const staticLanguages = (Object.keys(config.runtimeUrls) as RuntimeLanguage[]).filter((l) => config.runtimeUrls[l].length > 0);
    if (staticLanguages.length > 0) {
      throw new ConfigError(`RUNTIME_DISCOVERY=kubernetes discovers every language's endpoints: unset ${staticLanguages.map((l) => `${l.toUpperCase()}_RUNTIME_URL`).join(', ')}`);
    }
  }
  if (config.nodejs.maxPoolSize < config.nodejs.poolSize) {
    throw new ConfigError('NODEJS_MAX_POOL_SIZE must be at least NODEJS_POOL_SIZE');
  }
  if (config.python.maxWorkers < config.python.poolSize) {
    throw new ConfigError('PYTHON_MAX_WORKERS must be at least PYTHON_POOL_SIZE');
  }
  return Object.freeze(config);
}
