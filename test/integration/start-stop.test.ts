/**
 * Start and stop through one stack (src/main/disposer.ts): a start that fails after the runtimes,
 * the database and the request log thread are up leaves none of them behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { startService } from '../../src/main/service.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { RUST_TEST_CACHE_DIR } from '../helpers/rust.js';
import { waitFor } from '../helpers/wait.js';

/** Processes whose parent is this test process, apart from those it had before the service (tsx's esbuild). */
function childProcesses(): number[] {
  return ownChildren().filter((pid) => !processesBefore.has(pid));
}

let processesBefore = new Set<number>();

function ownChildren(): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(readFileSync(`/proc/${name}/status`, 'utf8'))) children.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

describe('start and stop through one stack', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });

  const connections = async (): Promise<number> => {
    const [row] = await db.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'lambda-microservice%'", [db.name]);
    return Number(row?.n);
  };

  it('a start that fails late (a missing RUNTIME_MAPPINGS_FILE, read after the runtimes started) unwinds everything already started', async () => {
    processesBefore = new Set(ownChildren());
    const config = loadConfig(
      { DATABASE_URL: db.url, DATA_DIR: mkdtempSync(join(tmpdir(), 'lm-test-data-')), RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR, RUNTIME_MAPPINGS_FILE: '/nonexistent/mappings.json' },
      'test',
    );
    await assert.rejects(startService(config, createSilentLogger()), /mappings\.json|ENOENT/);
    assert.deepEqual(childProcesses(), [], 'every runtime process stopped');
    await waitFor('every connection of the service closed', async () => (await connections()) === 0);
  });

  it('a started service stops everything it started', async () => {
    processesBefore = new Set(ownChildren());
    const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: mkdtempSync(join(tmpdir(), 'lm-test-data-')), RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR }, 'test');
    const service = await startService(config, createSilentLogger());
    assert.ok(childProcesses().length >= 3, 'runtime processes for every language');
    assert.ok((await connections()) > 0);
    await service.stop();
    assert.deepEqual(childProcesses(), []);
    await waitFor('every connection of the service closed', async () => (await connections()) === 0);
  });
});
