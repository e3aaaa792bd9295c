import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startServerProcess, type ServerProcess } from '../helpers/process.js';

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('end to end over HTTP: the README flow against the real entry point', () => {
  let server: ServerProcess | undefined;
  let dataDir: string | undefined;
  let db: TestDatabase | undefined;
  after(async () => {
    await server?.stop('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await db?.drop();
  });

  it('on the embedded default: initialize, execute, health', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lm-e2e-'));
    server = await startServerProcess({ DATA_DIR: dataDir });
    const init = await post(server.baseUrl, '/api/v1/initialize', { context: { env: 'production' }, script_content: 'return event.params.a + event.params.b;' }, { 'Language-Title': 'nodejs-calculator' });
    assert.equal(init.status, 200);
    const run = await post(server.baseUrl, `/api/v1/execute/${init.body.request_id}`, { params: { a: 10, b: 5 } });
    assert.equal(run.status, 200);
    assert.equal(run.body.result, 15);
    const health = (await (await fetch(`${server.baseUrl}/health`)).json()) as { components: { postgres: { mode: string } } };
    assert.equal(health.components.postgres.mode, 'embedded');
    assert.equal(await server.stop('SIGTERM'), 0, server.output());
    server = undefined;
  });

  it('against a real PostgreSQL: SIGTERM drains and flushes, no request_logs row is lost', async () => {
    db = await createTestDatabase();
    // A long flush interval: rows are still queued in memory when SIGTERM arrives.
    server = await startServerProcess({ DATABASE_URL: db.url, LOG_FLUSH_INTERVAL_MS: '60000', LOG_BATCH_SIZE: '10000' });
    const init = await post(server.baseUrl, '/api/v1/initialize', { script_content: 'return event.params.i * 2;' }, { 'Language-Title': 'nodejs-drain' });
    assert.equal(init.status, 200);
    const runs = await Promise.all(Array.from({ length: 50 }, (_, i) => post(server!.baseUrl, `/api/v1/execute/${init.body.request_id}`, { params: { i } })));
    runs.forEach((r, i) => assert.equal(r.body.result, i * 2));
    assert.equal(await server.stop('SIGTERM'), 0, server.output());
    server = undefined;
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM public.request_logs WHERE request_id = $1', [init.body.request_id]);
    assert.equal(Number(rows[0]?.n), 51);
    const session = await db.query<{ execution_count: string }>('SELECT execution_count FROM meta.sessions WHERE request_id = $1', [init.body.request_id]);
    assert.equal(Number(session[0]?.execution_count), 50);
  });
});
