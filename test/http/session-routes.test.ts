import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

describe('sessions: get, update, delete, retain_session, expiry (routes, real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, SESSION_MAX_LIFETIME_SECONDS: '7200' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  async function newSession(context: Record<string, unknown> = {}): Promise<string> {
    const res = await initialize(service, 'nodejs-sessions', { context, script_content: 'return (event.context.n ?? 0) + event.params.x;' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.request_id as string;
  }

  it('shows the session with its counters, in memory at once and in PostgreSQL after a flush', async () => {
    const id = await newSession({ user_id: 'u-1' });
    const fresh = await call(service, 'GET', `/api/v1/sessions/${id}`);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.request_id, id);
    assert.equal(fresh.body.language_title, 'nodejs-sessions');
    assert.equal(fresh.body.status, 'active');
    assert.equal(fresh.body.execution_count, 0);
    assert.equal(fresh.body.last_executed_at, null);
    assert.equal(fresh.body.compile_status, 'compiled');
    for (let i = 0; i < 3; i++) assert.equal((await execute(service, id, { x: i })).status, 200);
    const shown = await call(service, 'GET', `/api/v1/sessions/${id}`);
    assert.equal(shown.body.execution_count, 3);
    assert.ok(shown.body.last_executed_at);
    await service.flush();
    const rows = await db.query<{ execution_count: string; last_executed_at: Date; user_id: string }>(
      'SELECT execution_count, last_executed_at, user_id FROM meta.sessions WHERE request_id = $1',
      [id],
    );
    assert.equal(Number(rows[0]?.execution_count), 3);
    assert.ok(rows[0]?.last_executed_at instanceof Date);
    assert.equal(rows[0]?.user_id, 'u-1');
  });

  it('PATCH extends expiry and merges context; the script sees the new context', async () => {
    const id = await newSession({ n: 1 });
    const later = new Date(Date.now() + 2 * 3600_000 - 60_000).toISOString();
    const res = await call(service, 'PATCH', `/api/v1/sessions/${id}`, { body: { expires_at: later, context: { n: 100 } } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.expires_at, later);
    assert.equal(res.body.context.n, 100);
    assert.equal((await execute(service, id, { x: 1 })).body.result, 101);
    const stored = await db.query<{ expires_at: Date }>('SELECT expires_at FROM meta.sessions WHERE request_id = $1', [id]);
    assert.equal(stored[0]?.expires_at.toISOString(), later);
  });

  it('PATCH refuses expiry beyond the maximum, in the past, or malformed, and unknown fields', async () => {
    const id = await newSession();
    const tooFar = new Date(Date.now() + 3 * 3600_000).toISOString();
    for (const body of [{ expires_at: tooFar }, { expires_at: '2001-01-01T00:00:00Z' }, { expires_at: 'tomorrow' }, { colour: 'red' }, {}]) {
      const res = await call(service, 'PATCH', `/api/v1/sessions/${id}`, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'INVALID_REQUEST');
    }
  });

  it('DELETE ends the session: later executes and gets answer 404', async () => {
    const id = await newSession();
    assert.equal((await execute(service, id, { x: 1 })).status, 200);
    const del = await call(service, 'DELETE', `/api/v1/sessions/${id}`);
    assert.equal(del.status, 200);
    assert.equal((await execute(service, id, { x: 1 })).status, 404);
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${id}`)).status, 404);
    assert.equal((await call(service, 'DELETE', `/api/v1/sessions/${id}`)).status, 404);
  });

  it('retain_session:false ends the session after its first execute', async () => {
    const id = await newSession({ retain_session: false });
    assert.equal((await execute(service, id, { x: 2 })).body.result, 2);
    const second = await execute(service, id, { x: 2 });
    assert.equal(second.status, 404);
    assert.equal(second.body.error.code, 'NOT_FOUND');
    const shown = await call(service, 'GET', `/api/v1/sessions/${id}`);
    assert.equal(shown.body.status, 'completed');
    assert.equal(shown.body.execution_count, 1);
    await service.flush();
    const rows = await db.query<{ status: string }>('SELECT status FROM meta.sessions WHERE request_id = $1', [id]);
    assert.equal(rows[0]?.status, 'completed');
  });

  it('unknown and malformed ids', async () => {
    assert.equal((await call(service, 'GET', '/api/v1/sessions/00000000-0000-4000-8000-000000000000')).status, 404);
    const bad = await call(service, 'GET', "/api/v1/sessions/1'%20OR%20'1'='1");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_REQUEST');
  });
});

describe('session expiry and the sweep', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, SESSION_EXPIRY_SECONDS: '1' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('an expired session answers 404 and the sweep marks it expired', async () => {
    const init = await initialize(service, 'nodejs-short', { script_content: 'return 1;' });
    assert.equal((await execute(service, init.body.request_id, {})).status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    const run = await execute(service, init.body.request_id, {});
    assert.equal(run.status, 404);
    assert.match(run.body.error.message, /expired/);
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${init.body.request_id}`)).status, 404);
    const swept = await service.sessions.sweep();
    assert.ok(swept >= 1);
    const rows = await db.query<{ status: string }>('SELECT status FROM meta.sessions WHERE request_id = $1', [init.body.request_id]);
    assert.equal(rows[0]?.status, 'expired');
  });
});
