/**
 * Entry point of a runtime server: one language's in-process runtime served over gRPC
 * (proto/runtime.proto) for a controller elsewhere to reach with RemoteRuntime.
 *
 *   node --no-node-snapshot --import tsx src/main/runtime-server-main.ts --language nodejs|python|rust --port 50052 [--host 127.0.0.1]
 *
 * Runtime settings come from the same environment variables, with the same defaults, as the
 * service's own in-process runtimes (src/config/config.ts, src/main/runtimes.ts).
 * Rust keeps compiled modules in PostgreSQL when DATABASE_URL is set, in memory otherwise.
 * RUNTIME_TLS_CA/CERT/KEY: mutual TLS (only clients with a certificate signed by the CA get in).
 * SIGTERM/SIGINT: health turns NOT_SERVING, in-flight calls drain, then the runtime stops.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { projectPath } from '../config/paths.js';
import { createLogger } from '../observability/logger.js';
import { initTracing } from '../observability/tracing.js';
import { LogRing } from '../rpc/log-ring.js';
import { createRuntimeServer } from '../rpc/runtime-server.js';
import { LANGUAGES, type Language } from '../runtimes/runtime.js';
import { MemoryModuleStore } from '../runtimes/kit/module-store.js';
import { openDatabase, type Database } from '../storage/postgres/database.js';
import { PgModuleStore } from '../storage/postgres/pg-module-store.js';
import { createLocalRuntime } from './local-runtimes.js';
import { stopOnSignals } from './shutdown.js';

const LOG_RING_LINES = 1000;

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: runtime-server-main --language ${LANGUAGES.join('|')} --port <port> [--host 127.0.0.1]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({ options: { language: { type: 'string' }, port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } }, strict: true }).values;
  } catch (error) {
    usage((error as Error).message);
  }
  const language = args.language as Language | undefined;
  if (!language || !LANGUAGES.includes(language)) usage(`--language must be one of ${LANGUAGES.join(', ')}`);
  const port = Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) usage('--port must be a port number');
  const host = args.host ?? '127.0.0.1';

  let config: Config;
  try {
    config = loadConfig(process.env, (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version);
  } catch (error) {
    if (error instanceof ConfigError) usage(`configuration error: ${error.message}`);
    throw error;
  }
  const logs = new LogRing(LOG_RING_LINES, process.stdout);
  const logger = createLogger(config.logLevel, logs).child({ language });
  // Spans are recorded and exported only with OTEL_EXPORTER_OTLP_ENDPOINT; a caller's traceparent is honoured either way.
  const tracing = initTracing({
    otlpEndpoint: config.tracing.otlpEndpoint,
    serviceName: config.tracing.serviceName ?? `lambda-runtime-${language}`,
    serviceVersion: config.version,
    resourceAttributes: { 'lambda.runtime.language': language },
    logger,
  });

  // PostgreSQL only where it pays: Rust modules shared across replicas and restarts.
  let database: Database | undefined;
  if (language === 'rust' && config.databaseUrl) database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize, logger });
  const runtime = createLocalRuntime(language, config, logger, () => (database ? new PgModuleStore(database.pool) : new MemoryModuleStore(config.rust.maxModuleBytes)));
  await runtime.start();
  const server = createRuntimeServer(runtime, { logger, logs, tls: config.runtimeTls, maxMessageBytes: config.runtimeCalls.maxMessageBytes });
  const bound = await server.start(host, port);
  process.stdout.write(`runtime listening on ${host}:${bound}\n`);

  stopOnSignals(logger, 'draining in-flight calls', config.shutdownGraceMs * 3 + 5000, async () => {
    await server.stop(config.shutdownGraceMs);
    await runtime.stop();
    await database?.close();
    await tracing.shutdown();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`runtime server failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
