/**
 * PostgreSQL access: one pool, over either an external server (DATABASE_URL) or the embedded
 * default, with the versioned migrations under migrations/ applied on start.
 */
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { projectPath } from '../../config/paths.js';
import type { Logger } from '../../observability/logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres.js';

export const MIGRATIONS_DIR = projectPath('migrations');

export interface Database {
  readonly pool: pg.Pool;
  readonly mode: 'external' | 'embedded';
  /** How to connect (plain data: a worker thread opens connections of its own with it). */
  readonly connection: pg.PoolConfig;
  /** Round trip to the server; resolves with the latency in ms or rejects. */
  ping(): Promise<number>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly poolSize: number;
}

export async function runMigrations(pool: pg.Pool, logger: Logger): Promise<string[]> {
  const client = await pool.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      migrationsSchema: 'public',
      checkOrder: true,
      // Replicas starting together wait for the one that migrates instead of failing.
      advisoryLockMode: 'wait',
      log: () => undefined,
      logger: {
        debug: () => undefined,
        info: (msg: string) => logger.debug({ component: 'migrations' }, msg),
        warn: (msg: string) => logger.warn({ component: 'migrations' }, msg),
        error: (msg: string) => logger.error({ component: 'migrations' }, msg),
      },
    });
    const names = applied.map((m) => m.name);
    if (names.length > 0) logger.info({ migrations: names }, 'database migrations applied');
    return names;
  } finally {
    client.release();
  }
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const { logger } = options;
  let embedded: EmbeddedPostgresHandle | undefined;
  let poolConfig: pg.PoolConfig;
  if (options.databaseUrl) {
    poolConfig = { connectionString: options.databaseUrl };
  } else {
    embedded = await startEmbeddedPostgres(options.dataDir, logger);
    poolConfig = { ...embedded.connection };
  }
  const pool = new pg.Pool({
    ...poolConfig,
    max: options.poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'lambda-microservice',
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL client failed'));

  try {
    await runMigrations(pool, logger);
  } catch (error) {
    await pool.end().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }

  return {
    pool,
    mode: embedded ? 'embedded' : 'external',
    connection: poolConfig,
    async ping() {
      const started = performance.now();
      await pool.query('SELECT 1');
      return performance.now() - started;
    },
    async close() {
      await pool.end();
      await embedded?.stop();
    },
  };
}
