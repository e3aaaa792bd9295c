import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Module state counts real runs: a cached answer does not move the counter. */
const COUNTING = 'let runs = 0; module.exports = async (event) => ({ runs: ++runs, sum: event.params.a + event.params.b });';

describe('result cache on the real Redis', () => {
  let db: TestDatabase;
  let service: RunningService;
  let redis: Redis;
  const prefix = `lmtest:${randomBytes(4).toString('hex')}:`;

  before(async () => {
    redis = new Redis(REDIS_URL);
    await redis.ping(); // the machine's Redis must be up (started before every session and CI run)
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, REDIS_URL, REDIS_KEY_PREFIX: prefix });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function session(script = COUNTING, context: Record<string, unknown> = {}): Promise<string> {
    const res = await initialize(service, 'nodejs-cached', { script_content: script, context });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.request_id as string;
  }

  it('misses, then hits with cached: true, and the hit is logged as cached', async () => {
    const id = await session();
    const first = await execute(service, id, { a: 1, b: 2 });
    assert.equal(first.status, 200);
    assert.equal(first.body.cached, false);
    assert.deepEqual(first.body.result, { runs: 1, sum: 3 });
    const second = await execute(service, id, { a: 1, b: 2 });
    assert.equal(second.body.cached, true);
    assert.deepEqual(second.body.result, { runs: 1, sum: 3 }, 'the script did not run again');
    const keys = await redis.keys(`${prefix}result:*`);
    assert.ok(keys.length >= 1, 'the entry is in Redis');
    await service.flush();
    const rows = await db.query<{ cached: boolean }>('SELECT cached FROM public.request_logs WHERE request_id = $1 AND endpoint LIKE $2 ORDER BY timestamp', [id, 'POST /api/v1/execute%']);
    assert.deepEqual(rows.map((r) => r.cached), [false, true]);
    const metrics = await service.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /lambda_cache_hits_total \d+/);
    assert.match(metrics.body, /lambda_cache_hit_ratio 0\.\d+/);
  });

  it('keys params with their key order: a script can see it (test/exploits/result-cache.test.ts)', async () => {
    const id = await session();
    await execute(service, id, { a: 5, b: 6 });
    const reordered = await call(service, 'POST', `/api/v1/execute/${id}`, { rawBody: '{"params":{"b":6,"a":5}}', headers: { 'content-type': 'application/json' } });
    assert.equal(reordered.body.cached, false);
    const again = await call(service, 'POST', `/api/v1/execute/${id}`, { rawBody: '{"params":{"b":6,"a":5}}', headers: { 'content-type': 'application/json' } });
    assert.equal(again.body.cached, true);
  });

  it('X-Cache-Control: no-cache bypasses and refreshes the entry', async () => {
    const id = await session();
    await execute(service, id, { a: 7, b: 1 });
    const bypass = await execute(service, id, { a: 7, b: 1 }, { 'x-cache-control': 'no-cache' });
    assert.equal(bypass.body.cached, false);
    assert.equal(bypass.body.result.runs, 2);
    const after = await execute(service, id, { a: 7, b: 1 });
    assert.equal(after.body.cached, true);
    assert.equal(after.body.result.runs, 2, 'the refreshed result is what is cached now');
  });

  it('X-Cache-Control: max-age=N sets the TTL', async () => {
    const id = await session();
    await execute(service, id, { a: 9, b: 9 }, { 'x-cache-control': 'max-age=1' });
    const keys = await redis.keys(`${prefix}result:*`);
    const ttls = await Promise.all(keys.map((k) => redis.ttl(k)));
    assert.ok(ttls.some((t) => t === 1), `a key with TTL 1 among ${ttls.join(',')}`);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await execute(service, id, { a: 9, b: 9 });
    assert.equal(later.body.cached, false, 'expired after one second');
    const bad = await execute(service, id, { a: 9, b: 9 }, { 'x-cache-control': 'forever please' });
    assert.equal(bad.status, 400);
  });

  it('the default TTL is CACHE_TTL_SECONDS', async () => {
    const id = await session('module.exports = async (e) => "ttl-" + e.params.k;');
    await execute(service, id, { k: 'default' });
    const ttls = await Promise.all((await redis.keys(`${prefix}result:*`)).map((k) => redis.ttl(k)));
    assert.ok(ttls.some((t) => t > 3500 && t <= 3600), ttls.join(','));
  });

  it('context.cache: false opts a session out', async () => {
    const id = await session(COUNTING, { cache: false });
    await execute(service, id, { a: 1, b: 1 });
    const second = await execute(service, id, { a: 1, b: 1 });
    assert.equal(second.body.cached, false);
    assert.equal(second.body.result.runs, 2);
  });

  it('a function registered with cache: false is never cached', async () => {
    const created = await call(service, 'POST', '/api/v1/functions', { body: { language_title: 'nodejs-clock', script_content: COUNTING, cache: false } });
    assert.equal(created.status, 201);
    assert.equal(created.body.cache, false);
    const init = await initialize(service, 'nodejs-clock', {});
    await execute(service, init.body.request_id, { a: 1, b: 1 });
    const second = await execute(service, init.body.request_id, { a: 1, b: 1 });
    assert.equal(second.body.cached, false);
    assert.equal(second.body.result.runs, 2);
  });

  it('does not cache failures', async () => {
    const id = await session('module.exports = async () => { throw new Error("nope"); };');
    assert.equal((await execute(service, id, {})).status, 500);
    assert.equal((await execute(service, id, {})).status, 500);
  });

  it('runs concurrent identical misses once (single flight)', async () => {
    const id = await session();
    const answers = await Promise.all(Array.from({ length: 20 }, () => execute(service, id, { a: 100, b: 1 })));
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.deepEqual(a.body.result, { runs: 1, sum: 101 });
    }
    assert.equal(answers.filter((a) => a.body.cached === false).length, 1);
  });

  it('health names Redis as the cache in use', async () => {
    const res = await call(service, 'GET', '/health');
    assert.equal(res.body.components.redis.status, 'up');
    assert.equal(res.body.components.redis.kind, 'redis');
  });
});
