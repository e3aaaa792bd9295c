/**
 * The real PostgreSQL at 127.0.0.1:5432 for integration tests: each test file gets a database of
 * its own, created fresh and dropped afterwards. If the server is down it is started first.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import pg from 'pg';

const ADMIN_URL = process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function canConnect(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Makes sure the machine's PostgreSQL cluster is running (as the developers' guide says). */
export async function ensurePostgres(): Promise<void> {
  if (await canConnect()) return;
  const version = readdirSync('/etc/postgresql')[0];
  if (!version) throw new Error('PostgreSQL is not reachable at 127.0.0.1:5432 and no cluster is installed');
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' });
  for (let i = 0; i < 50 && !(await canConnect()); i++) await new Promise((r) => setTimeout(r, 200));
  if (!(await canConnect())) throw new Error('PostgreSQL did not come up at 127.0.0.1:5432');
}

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  await ensurePostgres();
  const name = `lm_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    url,
    name,
    async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      return (await pool.query<R>(sql, params)).rows;
    },
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
