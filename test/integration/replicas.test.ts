import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import { startScratchPostgres, type ScratchPostgres } from '../helpers/scratch-services.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('two replicas sharing PostgreSQL and the real Redis', () => {
  let pg: ScratchPostgres;
  let a: RunningService;
  let b: RunningService;

  before(async () => {
    pg = await startScratchPostgres();
    const env = { DATABASE_URL: pg.url, REDIS_URL, REDIS_KEY_PREFIX: `lmtest:${randomBytes(4).toString('hex')}:` };
    a = await startTestService(env);
    b = await startTestService(env);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    pg?.destroy();
  });

  it('a session made on one replica executes on the other without a PostgreSQL read', async () => {
    const init = await initialize(a, 'nodejs-replica', { script_content: 'return event.context.tag + ":" + event.params.n;', context: { tag: 'v1', cache: false } });
    const id = init.body.request_id as string;
    pg.stop('fast');
    try {
      const res = await execute(b, id, { n: 1 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.result, 'v1:1');
    } finally {
      pg.start();
    }
  });

  it('PATCH and DELETE on one replica take effect on the other at once', async () => {
    const init = await initialize(a, 'nodejs-replica2', { script_content: 'return event.context.tag;', context: { tag: 'before', cache: false } });
    const id = init.body.request_id as string;
    assert.equal((await execute(b, id, {})).body.result, 'before', 'b has it hot now');
    const patched = await call(a, 'PATCH', `/api/v1/sessions/${id}`, { body: { context: { tag: 'after' } } });
    assert.equal(patched.status, 200);
    await waitFor("b to see a's PATCH", async () => (await execute(b, id, {})).body.result === 'after');
    assert.equal((await call(a, 'DELETE', `/api/v1/sessions/${id}`)).status, 200);
    await waitFor("b to see a's DELETE", async () => (await execute(b, id, {})).status === 404);
  });

  it('counters from both replicas reach PostgreSQL', async () => {
    const init = await initialize(a, 'nodejs-replica3', { script_content: 'return 1;', context: { cache: false } });
    const id = init.body.request_id as string;
    for (let i = 0; i < 5; i++) {
      await execute(a, id, {});
      await execute(b, id, {});
    }
    await a.flush();
    await b.flush();
    const shown = await call(a, 'GET', `/api/v1/sessions/${id}`);
    assert.equal(shown.body.execution_count, 10);
  });

  it('a retain_session:false session used on one replica is ended on the other', async () => {
    const init = await initialize(a, 'nodejs-replica4', { script_content: 'return 1;', context: { retain_session: false } });
    const id = init.body.request_id as string;
    assert.equal((await execute(b, id, {})).status, 200);
    await waitFor('a to see the session ended on b', async () => (await execute(a, id, {})).status === 404);
  });
});
