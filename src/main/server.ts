/**
 * The service's entry point (`npm start`): configuration from the environment, the service
 * started and listening on HOST:PORT, and a graceful stop on SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config/config.js';
import { projectPath } from '../config/paths.js';
import { DOCS_PATH, OPENAPI_PATH } from '../http/api-docs.js';
import { createServiceLogger } from '../observability/logger.js';
import { authEnabled, startService } from './service.js';
import { stopOnSignals } from './shutdown.js';

const version = (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, version);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createServiceLogger(config.logLevel);
  // The first line says where everything will be (the port is known here unless it is 0).
  const planned = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  logger.info({ version }, `lambda-microservice starting: console ${planned}/, API ${planned}/api/v1, docs ${planned}${DOCS_PATH}, OpenAPI ${planned}${OPENAPI_PATH}`);
  const service = await startService(config, logger);
  const address = await service.app.listen({ host: config.host, port: config.port });
  if (!authEnabled(config)) {
    logger.warn(
      { host: config.host },
      config.auth.allowUnauthenticatedNetwork
        ? 'authentication is OFF and ALLOW_UNAUTHENTICATED_NETWORK=true: anyone who reaches this address can run code'
        : 'authentication is off: listening on loopback only (configure AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE to serve other interfaces)',
    );
  }
  logger.info(
    { address, database: service.database.mode, dataDir: service.database.mode === 'embedded' ? config.dataDir : undefined, version },
    `lambda-microservice listening on ${address} (console ${address}/, docs ${address}${DOCS_PATH}, OpenAPI ${address}${OPENAPI_PATH}, health ${address}/health)`,
  );

  stopOnSignals(logger, 'draining requests and flushing logs', config.shutdownGraceMs * 3 + 5000, () => service.stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`lambda-microservice failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
