import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import type { TestDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';
import { call, execute, onScratchService } from '../helpers/service.js';

describe('request_logs and error_logs (real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  onScratchService({}, (started) => ({ db, service } = started));

  it('writes one row per initialize and execute, an error row per failure, with secrets masked', async () => {
    const init = await call(service, 'POST', '/api/v1/initialize', {
      headers: { 'language-title': 'nodejs-logged', authorization: 'Bearer super.secret.token', 'x-request-id': 'corr-1' },
      body: { context: { user_id: 'u-7', db_password: 'hunter2', api_key: 'k-123' }, script_content: 'if (event.params.fail) throw new Error("failed on purpose"); return event.params.v;' },
    });
    assert.equal(init.status, 200);
    const id = init.body.request_id as string;
    for (let i = 0; i < 5; i++) assert.equal((await execute(service, id, { v: i })).status, 200);
    assert.equal((await execute(service, id, { fail: true })).status, 500);
    assert.equal((await call(service, 'POST', '/api/v1/initialize', { headers: { 'language-title': 'nodejs-bad' }, rawBody: '{oops', })).status, 400);

    // A row is handed to the writer on the response's 'close', which light-my-request may emit
    // after the answer resolved: wait for every row, then flush.
    await waitFor('8 request_logs rows', async () => {
      await service.flush();
      const counted = await db.query<{ n: string }>('SELECT count(*) AS n FROM public.request_logs');
      return Number(counted[0]?.n) >= 8;
    });
    const rows = await db.query<{
      id: string; request_id: string | null; status_code: number; language_title: string | null; user_id: string | null;
      request_headers: Record<string, string>; request_payload: Record<string, unknown> | null; response_payload: Record<string, unknown> | null;
      duration_ms: number; cached: boolean; correlation_id: string; runtime_metrics: Record<string, unknown> | null; client_ip: string;
    }>('SELECT * FROM public.request_logs ORDER BY timestamp');
    assert.equal(rows.length, 8);
    const [first] = rows;
    assert.ok(first);
    assert.equal(first.request_id, id);
    assert.equal(first.status_code, 200);
    assert.equal(first.language_title, 'nodejs-logged');
    assert.equal(first.user_id, 'u-7');
    assert.equal(first.correlation_id, 'corr-1');
    assert.equal(first.request_headers.authorization, '[masked]');
    const ctx = (first.request_payload as { context: Record<string, unknown> }).context;
    assert.equal(ctx.db_password, '[masked]');
    assert.equal(ctx.api_key, '[masked]');
    assert.equal(ctx.user_id, 'u-7');
    assert.equal((first.response_payload as { request_id: string }).request_id, id);
    const text = JSON.stringify(rows);
    assert.ok(!text.includes('super.secret.token'));
    assert.ok(!text.includes('hunter2'));

    const executes = rows.filter((r) => r.request_id === id && r.status_code === 200).slice(1);
    assert.equal(executes.length, 5);
    for (const r of executes) {
      assert.equal(r.cached, false);
      assert.equal(r.runtime_metrics?.status, 'ok');
      assert.ok(r.duration_ms >= 0);
    }

    const errors = await db.query<{ request_log_id: string; error_code: string; error_message: string; stack_trace: string | null }>(
      'SELECT e.* FROM public.error_logs e JOIN public.request_logs r ON r.id = e.request_log_id ORDER BY e.timestamp',
    );
    assert.deepEqual(errors.map((e) => e.error_code), ['RUNTIME_ERROR', 'INVALID_REQUEST']);
    assert.match(errors[0]?.error_message ?? '', /failed on purpose/);
    assert.match(errors[0]?.stack_trace ?? '', /failed on purpose/);
  });

  it('stores a row even when the script printed a NUL character', async () => {
    const init = await call(service, 'POST', '/api/v1/initialize', { headers: { 'language-title': 'nodejs-nul' }, body: { script_content: 'console.log("a\\u0000b"); return "x\\u0000y";' } });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const run = await execute(service, init.body.request_id, {});
    assert.equal(run.status, 200);
    assert.equal(run.body.result, 'x\u0000y');
    await service.flush();
    const rows = await db.query('SELECT 1 FROM public.request_logs WHERE request_id = $1', [init.body.request_id]);
    assert.equal(rows.length, 2);
  });
});
