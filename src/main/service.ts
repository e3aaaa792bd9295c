/**
 * Wiring: the only place that picks implementations (PostgreSQL external or embedded, which
 * runtime serves each language) and connects them. Starts in dependency order and stops in
 * reverse, flushing every queued row before the database closes.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import { LanguageRouter } from '../execution/language-router.js';
import { ExecutionService } from '../execution/execution-service.js';
import { FunctionService } from '../functions/function-service.js';
import { buildHttpApp } from '../http/app.js';
import type { ComponentHealth, HealthReport } from '../http/routes/operations-routes.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { createNodejsRuntime } from '../runtimes/nodejs/nodejs-runtime.js';
import { RuntimeRegistry } from '../runtimes/registry.js';
import type { Runtime } from '../runtimes/runtime.js';
import { UnavailableRuntime } from '../runtimes/unavailable-runtime.js';
import { SessionService } from '../sessions/session-service.js';
import { BatchWriter } from '../storage/batch-writer.js';
import { openDatabase, type Database } from '../storage/postgres/database.js';
import { PgFunctionStore } from '../storage/postgres/pg-function-store.js';
import { PgRequestLogStore } from '../storage/postgres/pg-request-log-store.js';
import { PgSessionStore } from '../storage/postgres/pg-session-store.js';
import type { RequestLogEntry } from '../storage/request-log.js';

export interface RunningService {
  readonly app: FastifyInstance;
  readonly database: Database;
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

const PING_TIMEOUT_MS = 1000;

function createDefaultRuntimes(config: Config, logger: Logger): Runtime[] {
  return [
    createNodejsRuntime({
      logger: logger.child({ runtime: 'nodejs' }),
      poolSize: config.nodejs.poolSize,
      maxPoolSize: config.nodejs.maxPoolSize,
      memoryLimitMb: config.nodejs.memoryLimitMb,
      maxLogEntries: config.maxLogEntries,
      maxLogBytes: config.maxLogBytes,
      maxResultBytes: config.maxResultBytes,
    }),
    new UnavailableRuntime('python', 'The Python runtime is not available yet: sandboxed CPython workers are not built (issue #3)'),
    new UnavailableRuntime('rust', 'The Rust runtime is not available yet: the WebAssembly toolchain and runner are not built (issue #4)'),
  ];
}

export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<RunningService> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  const runtimes = new RuntimeRegistry();
  for (const runtime of overrides.runtimes ?? createDefaultRuntimes(config, logger)) runtimes.register(runtime);
  try {
    await runtimes.startAll();
  } catch (error) {
    await runtimes.stopAll().catch(() => undefined);
    await database.close();
    throw error;
  }

  const router = config.runtimeMappingsFile ? LanguageRouter.fromFile(config.runtimeMappingsFile) : new LanguageRouter();
  const sessionStore = new PgSessionStore(database.pool);
  const functionStore = new PgFunctionStore(database.pool);
  const requestLogStore = new PgRequestLogStore(database.pool);

  // Sampled only when /metrics is scraped, after everything below exists.
  const metrics = createMetrics({
    activeSessions: () => sessions.activeCount,
    logQueueDepth: () => ({ request_logs: requestLogs.depth, session_activity: sessions.activityQueueDepth }),
  });
  const requestLogs = new BatchWriter<RequestLogEntry>({
    name: 'request-logs',
    logger,
    intervalMs: config.logFlushIntervalMs,
    batchSize: config.logBatchSize,
    maxQueued: 100_000,
    write: (batch) => requestLogStore.writeBatch(batch),
    onDrop: (n) => metrics.logRowsDropped.inc({ writer: 'request_logs' }, n),
  });
  const sessions = new SessionService({
    store: sessionStore,
    functions: functionStore,
    runtimes,
    router,
    logger,
    sessionExpirySeconds: config.sessionExpirySeconds,
    sessionMaxLifetimeSeconds: config.sessionMaxLifetimeSeconds,
    maxScriptSize: config.maxScriptSize,
    activityFlushIntervalMs: config.logFlushIntervalMs,
    onSessionCreated: (language) => metrics.sessionsCreated.inc({ language }),
  });
  const execution = new ExecutionService({
    sessions,
    functions: functionStore,
    runtimes,
    metrics,
    logger,
    runtimeTimeoutSeconds: config.runtimeTimeoutSeconds,
    defaultTimeoutMs: config.defaultTimeoutMs,
  });
  const functions = new FunctionService({ store: functionStore, router, runtimes, maxScriptSize: config.maxScriptSize });

  const health = async (): Promise<HealthReport> => {
    let postgres: ComponentHealth;
    try {
      const latency = await Promise.race([
        database.ping(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref()),
      ]);
      postgres = { status: 'up', mode: database.mode, latency_ms: Math.round(latency * 100) / 100 };
    } catch (error) {
      postgres = { status: 'down', mode: database.mode, error: (error as Error).message };
    }
    const runtimeHealth: Record<string, ComponentHealth> = {};
    for (const [language, h] of Object.entries(runtimes.health())) {
      runtimeHealth[language] = { status: h.status, ...(h.reason ? { reason: h.reason } : {}), ...(h.details ?? {}) };
    }
    const serving = postgres.status === 'up' && runtimeHealth.nodejs?.status === 'up';
    return {
      status: serving ? 'ok' : 'degraded',
      version: config.version,
      components: {
        controller: { status: 'up', uptime_seconds: Math.round(process.uptime()) },
        postgres,
        redis: { status: 'not_configured', reason: 'Redis support is not built yet (issue #5); results are not cached' },
        runtimes: runtimeHealth,
      },
    };
  };

  const app = await buildHttpApp({
    logger,
    metrics,
    sessions,
    execution,
    functions,
    health,
    writeRequestLog: (entry) => requestLogs.add(entry),
    bodyLimit: config.maxBodyBytes,
  });

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

  let stopping: Promise<void> | undefined;
  return {
    app,
    database,
    sessions,
    async flush() {
      await sessions.flushActivity();
      await requestLogs.flush();
    },
    stop() {
      stopping ??= (async () => {
        clearInterval(sweepTimer);
        await app.close();
        const lostActivity = await sessions.stop(config.shutdownGraceMs);
        const lostLogs = await requestLogs.stop(config.shutdownGraceMs);
        if (lostActivity + lostLogs > 0) logger.error({ lostActivity, lostLogs }, 'rows not written at shutdown');
        await runtimes.stopAll();
        await database.close();
      })();
      return stopping;
    },
  };
}
