/**
 * Wiring: the only place that picks implementations (PostgreSQL external or embedded, which
 * runtime serves each language) and connects them. Starts in dependency order and stops in
 * reverse, flushing every queued row before the database closes.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { MemoryCache } from '../cache/memory-cache.js';
import type { SharedCache } from '../cache/shared-cache.js';
import type { Config } from '../config/config.js';
import { Admission } from '../execution/admission.js';
import { LanguageRouter } from '../execution/language-router.js';
import { ExecutionService } from '../execution/execution-service.js';
import { ResultCache } from '../execution/result-cache.js';
import { RuntimeCatalog } from '../execution/runtime-catalog.js';
import { FunctionService } from '../functions/function-service.js';
import { HistoryService } from '../history/history-service.js';
import { ParamsValidator } from '../functions/params-validator.js';
import { buildHttpApp } from '../http/app.js';
import { Authenticator } from '../http/auth.js';
import type { ComponentHealth, HealthReport } from '../http/routes/operations-routes.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type RuntimeEndpointSample } from '../observability/metrics.js';
import { initTracing } from '../observability/tracing.js';
import type { RuntimePool } from '../rpc/runtime-pool.js';
import { RuntimeRegistry } from '../runtimes/registry.js';
import type { Runtime, RuntimeHealth } from '../runtimes/runtime.js';
import { SessionCache } from '../sessions/session-cache.js';
import { SessionService } from '../sessions/session-service.js';
import { BatchWriter } from '../storage/batch-writer.js';
import { openDatabase, type Database } from '../storage/postgres/database.js';
import { PgFunctionStore } from '../storage/postgres/pg-function-store.js';
import { PgRequestHistory } from '../storage/postgres/pg-request-history.js';
import { PgModuleStore } from '../storage/postgres/pg-module-store.js';
import { ThreadedRequestLogStore } from '../storage/postgres/threaded-request-log-store.js';
import { PgSessionStore } from '../storage/postgres/pg-session-store.js';
import { RedisCache } from '../storage/redis/redis-cache.js';
import type { RequestLogEntry } from '../storage/request-log.js';
import { DisposerStack } from './disposer.js';
import { createRuntimes } from './runtimes.js';

export interface RunningService {
  readonly app: FastifyInstance;
  readonly database: Database;
  readonly cache: SharedCache;
  readonly sessions: SessionService;
  /** Writes every queued log and counter row now (tests and operators use it). */
  flush(): Promise<void>;
  /** Stops accepting, drains in-flight requests, flushes queued rows, stops runtimes and storage. */
  stop(): Promise<void>;
}

export interface ServiceOverrides {
  /** Runtimes to use instead of the defaults (tests, remote runtimes). */
  readonly runtimes?: readonly Runtime[];
}

/** Whether requests must carry a token (any JWT key source configured). */
export function authEnabled(config: Config): boolean {
  return Boolean(config.auth.jwtSecret ?? config.auth.jwksUrl ?? config.auth.jwksFile);
}

const PING_TIMEOUT_MS = 1000;

/** The remote endpoints of every pooled language (src/rpc/runtime-pool.ts), for /metrics. */
function endpointSample(pools: readonly RuntimePool[]): RuntimeEndpointSample {
  return {
    endpoints: pools.flatMap((pool) => pool.endpointStates().map((e) => ({ language: pool.language, address: e.address, up: e.status !== 'unavailable', inFlight: e.outstanding }))),
    retries: Object.fromEntries(pools.map((pool) => [pool.language, pool.retries])),
  };
}

/** A component's own health as /health shows it: status and reason, then its details. */
function componentHealth(h: RuntimeHealth): ComponentHealth {
  return { status: h.status, ...(h.reason ? { reason: h.reason } : {}), ...(h.details ?? {}) };
}


/**
 * Starts every part in dependency order, each registering its stop on one stack: a failure
 * anywhere unwinds what was already started, and `stop()` unwinds the whole stack in reverse.
 */
export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<RunningService> {
  const stack = new DisposerStack(logger);
  return stack.starting(() => start(config, logger, overrides, stack));
}

async function start(config: Config, logger: Logger, overrides: ServiceOverrides, stack: DisposerStack): Promise<RunningService> {
  // Process-wide and reference-counted: spans are recorded and exported only with OTEL_EXPORTER_OTLP_ENDPOINT.
  stack.defer(
    'tracing',
    initTracing({ otlpEndpoint: config.tracing.otlpEndpoint, serviceName: config.tracing.serviceName ?? 'lambda-microservice', serviceVersion: config.version, logger }),
    (t) => t.shutdown(),
  );
  const database = stack.defer('database', await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize, logger }), (d) => d.close());
  const runtimes = new RuntimeRegistry();
  const wiring = overrides.runtimes
    ? { runtimes: overrides.runtimes, pools: [], discovery: undefined, startDiscovery: () => Promise.resolve(), close: () => undefined }
    : await createRuntimes(config, logger, () => new PgModuleStore(database.pool));
  for (const runtime of wiring.runtimes) runtimes.register(runtime);
  const { discovery } = wiring;
  // Registered before starting: a runtime that started before another one failed is stopped too.
  stack.defer('runtimes', wiring, async (w) => {
    await runtimes.stopAll();
    w.close();
  });
  await runtimes.startAll();
  stack.defer('discovery', discovery, (d) => d?.stop());
  await wiring.startDiscovery();

  const router = config.runtimeMappingsFile ? LanguageRouter.fromFile(config.runtimeMappingsFile) : new LanguageRouter();
  const sessionStore = new PgSessionStore(database.pool);
  const functionStore = new PgFunctionStore(database.pool);
  // Rows are serialised and written on a thread of their own: a saturated HTTP thread cannot starve them.
  const requestLogStore = stack.defer(
    'request log thread',
    new ThreadedRequestLogStore(database.connection, (id, message) => logger.error({ requestLogId: id, err: message }, 'request log row dropped: PostgreSQL refuses even its bare form')),
    (store) => store.close(),
  );

  // Redis when configured; otherwise the in-process default with the same semantics (one machine).
  let redis: RedisCache | undefined;
  const cache: SharedCache = config.redisUrl
    ? (redis = new RedisCache({
        url: config.redisUrl,
        logger: logger.child({ component: 'redis' }),
        commandTimeoutMs: config.redisCommandTimeoutMs,
        keyPrefix: config.redisKeyPrefix,
        // Invalidations published while Redis was away were lost: reload every hot session.
        onReconnect: () => sessions.dropAllHot(),
      }))
    : new MemoryCache({ maxEntries: config.cacheMaxEntries, maxBytes: config.cacheMaxBytes });
  redis?.start();
  stack.defer('cache', cache, (c) => c.close());

  // Sampled only when /metrics is scraped, after everything below exists.
  const metrics = createMetrics({
    activeSessions: () => sessions.activeCount,
    logQueueDepth: () => ({ request_logs: requestLogs.depth, session_activity: sessions.activityQueueDepth }),
    dependencies: async () => ({ postgres: (await pingDatabase()).status === 'up', redis: cache.health().status === 'up' }),
    runtimeEndpoints: () => endpointSample(wiring.pools),
    executesInFlight: () => admission.inFlight,
  });
  const admission = new Admission({ ...config.admission, onShed: (scope) => metrics.executesShed.inc({ scope }) });
  const requestLogs = new BatchWriter<RequestLogEntry>({
    name: 'request-logs',
    logger,
    intervalMs: config.logFlushIntervalMs,
    batchSize: config.logBatchSize,
    concurrency: config.logWriteConcurrency,
    maxQueued: config.logMaxInMemory,
    maxInMemory: config.logMaxInMemory,
    // While PostgreSQL is away, rows beyond what memory holds wait on disk, and survive a restart.
    spool: {
      dir: join(config.dataDir, 'spool', 'request-logs'),
      encode: (entry) => ({ ...entry, timestamp: entry.timestamp.toISOString() }),
      decode: (raw) => {
        const entry = raw as RequestLogEntry & { timestamp: string };
        return { ...entry, timestamp: new Date(entry.timestamp) };
      },
    },
    write: (batch) => requestLogStore.writeBatch(batch),
    onDrop: (n) => metrics.logRowsDropped.inc({ writer: 'request_logs' }, n),
    onWritten: (n) => metrics.logRowsWritten.inc({ writer: 'request_logs' }, n),
  });
  stack.defer('request logs', requestLogs, async (writer) => {
    const lost = await writer.stop(config.shutdownGraceMs);
    if (lost > 0) logger.error({ lostLogs: lost }, 'request log rows not written at shutdown');
  });
  await requestLogs.start();
  const sessions = new SessionService({
    store: sessionStore,
    cache: new SessionCache(cache),
    functions: functionStore,
    runtimes,
    router,
    logger,
    sessionExpirySeconds: config.sessionExpirySeconds,
    sessionMaxLifetimeSeconds: config.sessionMaxLifetimeSeconds,
    maxHotSessions: config.maxHotSessions,
    maxScriptSize: config.maxScriptSize,
    contextLimits: { maxBytes: config.maxContextBytes, maxDepth: config.maxJsonDepth },
    activityFlushIntervalMs: config.logFlushIntervalMs,
    onSessionCreated: (language) => metrics.sessionsCreated.inc({ language }),
  });
  stack.defer('sessions', sessions, async (service) => {
    const lost = await service.stop(config.shutdownGraceMs);
    if (lost > 0) logger.error({ lostActivity: lost }, 'session counters not written at shutdown');
  });
  await sessions.start();
  const results = new ResultCache({
    cache,
    defaultTtlSeconds: config.cacheTtlSeconds,
    onHit: () => metrics.cacheHit(),
    onMiss: () => metrics.cacheMiss(),
  });
  const paramsValidator = stack.defer('params validation', new ParamsValidator({ logger: logger.child({ component: 'params-validation' }) }), (v) => v.stop());
  const execution = new ExecutionService({
    sessions,
    functions: functionStore,
    runtimes,
    metrics,
    logger,
    results,
    admission,
    paramsValidator,
    paramsLimits: { maxBytes: config.maxParamsBytes, maxDepth: config.maxJsonDepth },
    runtimeTimeoutSeconds: config.runtimeTimeoutSeconds,
    defaultTimeoutMs: config.defaultTimeoutMs,
  });
  const functions = new FunctionService({ store: functionStore, router, runtimes, maxScriptSize: config.maxScriptSize });
  const history = new HistoryService({ sessions, store: new PgRequestHistory(database.pool), router, logger });
  const runtimeCatalog = new RuntimeCatalog({ config, router });

  async function pingDatabase(): Promise<ComponentHealth> {
    try {
      const latency = await Promise.race([
        database.ping(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref()),
      ]);
      return { status: 'up', mode: database.mode, latency_ms: Math.round(latency * 100) / 100 };
    } catch (error) {
      return { status: 'down', mode: database.mode, error: (error as Error).message };
    }
  }

  const health = async (): Promise<HealthReport> => {
    const postgres = await pingDatabase();
    const runtimeHealth: Record<string, ComponentHealth> = {};
    for (const [language, h] of Object.entries(runtimes.health())) {
      runtimeHealth[language] = componentHealth(h);
    }
    const serving = postgres.status === 'up' && runtimeHealth.nodejs?.status === 'up' && cache.health().status === 'up';
    return {
      status: serving ? 'ok' : 'degraded',
      version: config.version,
      components: {
        controller: { status: 'up', uptime_seconds: Math.round(process.uptime()) },
        postgres,
        redis: { ...cache.health(), ...(redis ? {} : { note: 'REDIS_URL not set: the in-process cache serves this one machine' }) },
        runtimes: runtimeHealth,
        ...(discovery ? { discovery: componentHealth(discovery.health()) } : {}),
      },
    };
  };

  const app = stack.defer('http', await buildHttpApp({
    logger,
    metrics,
    sessions,
    execution,
    functions,
    history,
    runtimeCatalog,
    health,
    writeRequestLog: (entry) => requestLogs.add(entry),
    bodyLimit: config.maxBodyBytes,
    maxHeaderBytes: config.maxHeaderBytes,
    ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
    trustProxy: config.trustProxy,
    security: {
      authenticator: Authenticator.create(config.auth),
      anonymousScopes: config.auth.anonymousScopes,
      corsOrigins: config.corsOrigins,
      rateLimits: config.rateLimits,
      authFailuresPerMinute: config.authFailuresPerMinute,
      ...(redis ? { redis: redis.client } : {}),
    },
  }), (a) => a.close());

  const sweep = async (): Promise<void> => {
    try {
      const expired = await sessions.sweep();
      if (expired > 0) logger.info({ expired }, 'expired sessions swept');
    } catch (error) {
      logger.warn({ err: error }, 'session sweep failed; will retry');
    }
  };
  await sweep();
  const sweepTimer = setInterval(() => void sweep(), config.sessionSweepIntervalSeconds * 1000);
  sweepTimer.unref();
  stack.defer('session sweep', sweepTimer, (timer) => clearInterval(timer));

  return {
    app,
    database,
    cache,
    sessions,
    async flush() {
      await sessions.flushActivity();
      await requestLogs.flush();
    },
    stop: () => stack.unwind(),
  };
}
