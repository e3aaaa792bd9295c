import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import { startScratchPostgres, startScratchRedis, type ScratchPostgres, type ScratchRedis } from '../helpers/scratch-services.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Redis stopped mid-test, then started again', () => {
  let redis: ScratchRedis | undefined;
  let pg: ScratchPostgres | undefined;
  let service: RunningService | undefined;
  after(async () => {
    await service?.stop();
    await redis?.kill();
    pg?.destroy();
  });

  it('keeps answering without cache, shows redis down, and reconnects by itself', async () => {
    pg = await startScratchPostgres();
    redis = await startScratchRedis();
    service = await startTestService({ DATABASE_URL: pg.url, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '50' });
    const init = await initialize(service, 'nodejs-degrade', { script_content: 'return event.params.n * 2;' });
    const id = init.body.request_id as string;
    await execute(service, id, { n: 1 });
    assert.equal((await execute(service, id, { n: 1 })).body.cached, true);

    await redis.kill();
    await until(async () => (await call(service!, 'GET', '/health')).body.components.redis.status === 'down', 5000, 'health to show redis down');
    const health = await call(service, 'GET', '/health');
    assert.equal(health.body.status, 'degraded');
    for (let n = 0; n < 20; n++) {
      const started = Date.now();
      const res = await execute(service, id, { n: 1 });
      assert.equal(res.status, 200);
      assert.equal(res.body.result, 2);
      assert.equal(res.body.cached, false, 'no cache while Redis is down');
      assert.ok(Date.now() - started < 1000, 'no request waits on a dead Redis');
    }
    const fresh = await initialize(service, 'nodejs-degrade2', { script_content: 'return 1;' });
    assert.equal(fresh.status, 200, 'initialize works without Redis');

    await redis.start();
    await until(async () => (await call(service!, 'GET', '/health')).body.components.redis.status === 'up', 10_000, 'redis to reconnect');
    await execute(service, id, { n: 3 });
    assert.equal((await execute(service, id, { n: 3 })).body.cached, true, 'caching again');
  });
});

describe('PostgreSQL unreachable for a while', () => {
  let pg: ScratchPostgres | undefined;
  let service: RunningService | undefined;
  let dataDir: string | undefined;
  after(async () => {
    await service?.stop();
    pg?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('executes of known sessions go on, initialize answers 503, and every log row arrives exactly once', async () => {
    pg = await startScratchPostgres();
    dataDir = await mkdtemp(join(tmpdir(), 'lm-spool-'));
    // A small in-memory bound so the outage spills rows to DATA_DIR/spool.
    service = await startTestService({ DATABASE_URL: pg.url, DATA_DIR: dataDir, LOG_MAX_IN_MEMORY: '20', LOG_BATCH_SIZE: '10' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const init = await initialize(service, `nodejs-outage${i}`, { script_content: 'if (event.params.fail) throw new Error("x"); return event.params.n;', context: { cache: false } });
      assert.equal(init.status, 200);
      ids.push(init.body.request_id as string);
    }
    let requests = 3;
    let failures = 0;

    pg.stop('immediate');
    await until(async () => (await call(service!, 'GET', '/health')).body.components.postgres.status === 'down', 5000, 'health to show postgres down');
    for (let n = 0; n < 90; n++) {
      const id = ids[n % 3] as string;
      const fail = n % 10 === 0;
      const res = await execute(service, id, fail ? { fail: true } : { n });
      requests++;
      if (fail) {
        failures++;
        assert.equal(res.status, 500);
      } else {
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.result, n);
      }
    }
    const refused = await initialize(service, 'nodejs-while-down', { script_content: 'return 1;' });
    requests++;
    failures++;
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'SERVICE_UNAVAILABLE');
    const session = await call(service, 'GET', `/api/v1/sessions/${ids[0]}`);
    assert.equal(session.status, 200, 'a hot session still shows from memory');
    await service.flush();
    assert.ok((await readdir(join(dataDir, 'spool', 'request-logs'))).length > 0, 'rows spilled to disk');

    pg.start();
    await until(async () => {
      await service!.flush();
      const m = await service!.app.inject({ method: 'GET', url: '/metrics' });
      return /lambda_log_queue_depth\{writer="request_logs"\} 0\b/.test(m.body) && /lambda_log_queue_depth\{writer="session_activity"\} 0\b/.test(m.body);
    }, 20_000, 'queued rows to be written');

    const rows = await service.database.pool.query<{ id: string; n: string }>('SELECT id, count(*) OVER () AS n FROM public.request_logs');
    assert.equal(rows.rows.length, requests, 'every row once');
    assert.equal(new Set(rows.rows.map((r) => r.id)).size, requests, 'no duplicates');
    const errors = await service.database.pool.query('SELECT 1 FROM public.error_logs');
    assert.equal(errors.rows.length, failures);
    const counts = await service.database.pool.query<{ n: string }>('SELECT sum(execution_count) AS n FROM meta.sessions');
    assert.equal(Number(counts.rows[0]?.n), 90, 'every execution counted');
    assert.deepEqual(await readdir(join(dataDir, 'spool', 'request-logs')), [], 'spool emptied');
  });
});
