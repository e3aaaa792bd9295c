import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execute, initialize, call, startTestService } from '../helpers/service.js';

describe('the embedded default database (no DATABASE_URL)', () => {
  let dataDir: string | undefined;
  after(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('creates its cluster under DATA_DIR, and sessions and logs survive a restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lm-embedded-'));
    const first = await startTestService({ DATA_DIR: dataDir });
    let id: string;
    try {
      const health = await call(first, 'GET', '/health');
      assert.equal(health.body.components.postgres.status, 'up');
      assert.equal(health.body.components.postgres.mode, 'embedded');
      const init = await initialize(first, 'nodejs-persist', { script_content: 'return event.params.a + event.params.b;' });
      assert.equal(init.status, 200);
      id = init.body.request_id as string;
      assert.equal((await execute(first, id, { a: 2, b: 3 })).body.result, 5);
    } finally {
      await first.stop();
    }

    const second = await startTestService({ DATA_DIR: dataDir });
    try {
      // The session is cold here: loaded from the database and prepared again on the runtime.
      const run = await execute(second, id, { a: 10, b: 5 });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.equal(run.body.result, 15);
      const shown = await call(second, 'GET', `/api/v1/sessions/${id}`);
      assert.equal(shown.body.execution_count, 2);
      await second.flush();
      const { rows } = await second.database.pool.query<{ n: string }>('SELECT count(*) AS n FROM public.request_logs WHERE request_id = $1', [id]);
      assert.equal(Number(rows[0]?.n), 3, 'initialize + two executes, across the restart');
      const fns = await call(second, 'GET', '/api/v1/functions');
      assert.equal(fns.body.total, 3, 'migrations ran once, not twice');
    } finally {
      await second.stop();
    }
  });
});
