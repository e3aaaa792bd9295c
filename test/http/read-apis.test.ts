/**
 * The read APIs of issue 16 against the real PostgreSQL: the caller's sessions (filters, cursor
 * pages), a session's executions (newest first, masked, paged), a function's stats (figures and
 * buckets checked against rows of known durations), changing a dynamic function (a new version
 * that new sessions start on while running ones keep theirs) and deleting it; ownership and
 * scopes with auth on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';

import type { RunningService } from '../../src/main/service.js';
import { EXECUTE_ENDPOINT } from '../../src/storage/request-log.js';
import type { TestDatabase } from '../helpers/postgres.js';
import { call, execute, initialize, onScratchService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, any>;

/** Waits until request_logs holds `count` execute rows of the session (they are written behind). */
async function executeRowsLanded(service: RunningService, db: TestDatabase, requestId: string, count: number): Promise<void> {
  await waitFor(`${count} execute rows of ${requestId}`, async () => {
    await service.flush();
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM public.request_logs WHERE request_id = $1 AND endpoint = $2', [requestId, EXECUTE_ENDPOINT]);
    return Number(rows[0]?.n) >= count;
  });
}

/** Until the clock is 2 ms on: requests made one after the other then have different stored times (kept to the millisecond). */
async function laterMillisecond(): Promise<void> {
  const now = Date.now();
  await waitFor('a later millisecond', () => Date.now() >= now + 2);
}

/** Every page of a cursor-paged list, following next_cursor. */
async function allPages(service: RunningService, url: string, key: string, headers: Record<string, string> = {}): Promise<{ pages: Json[][]; items: Json[] }> {
  const pages: Json[][] = [];
  let cursor: string | null = null;
  do {
    const res = await call(service, 'GET', `${url}${url.includes('?') ? '&' : '?'}${cursor ? `cursor=${encodeURIComponent(cursor)}` : ''}`, { headers });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    pages.push(res.body[key] as Json[]);
    cursor = res.body.next_cursor as string | null;
    assert.ok(pages.length < 50, 'the pages end');
  } while (cursor !== null);
  return { pages, items: pages.flat() };
}

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(sorted: readonly number[], p: number): number {
  const at = p * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (at - low);
}

describe('read APIs (auth off, real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  onScratchService({}, (started) => ({ db, service } = started));

  it('lists sessions newest first, filtered by status, language and Language-Title; deleted ones never', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const init = await initialize(service, 'nodejs-listed', { script_content: 'return 1;' });
      assert.equal(init.status, 200);
      ids.push(init.body.request_id as string);
    }
    const python = await initialize(service, 'python-listed', { script_content: 'def handle(params):\n    return 1\n' });
    assert.equal(python.status, 200, JSON.stringify(python.body));
    const deleted = await initialize(service, 'nodejs-listed', { script_content: 'return 2;' });
    assert.equal((await call(service, 'DELETE', `/api/v1/sessions/${deleted.body.request_id}`)).status, 200);
    const failed = await initialize(service, 'nodejs-listed', { script_content: 'return (;' });
    assert.equal(failed.status, 400);
    const failedId = failed.body.error.details.request_id as string;
    const oneShot = await initialize(service, 'nodejs-listed', { script_content: 'return 3;', context: { retain_session: false } });
    assert.equal((await execute(service, oneShot.body.request_id, {})).status, 200);
    await service.flush();
    // Past its expiry, not yet swept: GET's status is `expired`, so is the list's.
    await db.query(`UPDATE meta.sessions SET expires_at = now() - interval '1 second' WHERE request_id = $1`, [ids[0]]);

    const listed = await call(service, 'GET', '/api/v1/sessions?language_title=nodejs-listed');
    assert.equal(listed.status, 200);
    const got = listed.body.sessions as Json[];
    assert.deepEqual(
      got.map((s) => s.request_id as string).sort(),
      [...ids, failedId, oneShot.body.request_id].sort(),
      'every session of the title but the deleted one',
    );
    for (let i = 1; i < got.length; i++) assert.ok(Date.parse(got[i - 1]?.created_at) >= Date.parse(got[i]?.created_at), 'newest first');
    assert.equal(got[0]?.request_id, oneShot.body.request_id, 'the newest first');
    assert.equal(listed.body.next_cursor, null);

    const statusOf = async (status: string) =>
      ((await call(service, 'GET', `/api/v1/sessions?language_title=nodejs-listed&status=${status}`)).body.sessions as Json[]).map((s) => s.request_id as string).sort();
    assert.deepEqual(await statusOf('active'), [ids[1], ids[2]].sort());
    assert.deepEqual(await statusOf('expired'), [ids[0]]);
    assert.deepEqual(await statusOf('completed'), [oneShot.body.request_id]);
    assert.deepEqual(await statusOf('error'), [failedId]);

    const pythonOnly = await call(service, 'GET', '/api/v1/sessions?language=python');
    assert.deepEqual((pythonOnly.body.sessions as Json[]).map((s) => s.request_id as string), [python.body.request_id]);
    assert.equal((pythonOnly.body.sessions as Json[])[0]?.language_title, 'python-listed');

    for (const query of ['status=running', 'language=java', 'limit=0', 'limit=101', 'limit=x', 'cursor=not-a-cursor', `cursor=${Buffer.from('["2026-01-01T00:00:00.000000Z","x"]').toString('base64url')}`]) {
      const res = await call(service, 'GET', `/api/v1/sessions?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, 'INVALID_REQUEST', query);
    }
  });

  it('pages sessions by cursor: every one once, in order, even when many share one microsecond', async () => {
    const first = await initialize(service, 'nodejs-paged', { script_content: 'return 1;' });
    assert.equal(first.status, 200);
    // Eleven more sessions within one millisecond, four of them in each microsecond: only the id orders those.
    await db.query(
      `INSERT INTO meta.sessions (request_id, language_title, language, user_id, created_at, expires_at, status, context, script_content, metadata)
       SELECT gen_random_uuid(), language_title, language, user_id, created_at + (i % 3) * interval '1 microsecond', expires_at, status, context, script_content, metadata
         FROM meta.sessions, generate_series(1, 11) AS i WHERE request_id = $1`,
      [first.body.request_id],
    );
    const whole = await call(service, 'GET', '/api/v1/sessions?language_title=nodejs-paged&limit=100');
    const expected = (whole.body.sessions as Json[]).map((s) => s.request_id as string);
    assert.equal(expected.length, 12);
    const { pages, items } = await allPages(service, '/api/v1/sessions?language_title=nodejs-paged&limit=5', 'sessions');
    assert.deepEqual(pages.map((p) => p.length), [5, 5, 2]);
    assert.deepEqual(items.map((s) => s.request_id as string), expected, 'the pages are the whole list, in order: no duplicate, no gap');
  });

  it('answers a session\'s executions newest first, masked, with error code and message, paged', async () => {
    const init = await initialize(service, 'nodejs-history', { script_content: 'if (event.params.fail) throw new Error("failed on purpose"); return { n: event.params.n };' });
    assert.equal(init.status, 200);
    const id = init.body.request_id as string;
    for (let n = 1; n <= 4; n++) {
      assert.equal((await execute(service, id, { n, password: 'hunter2' }, { 'x-request-id': `run-${n}` })).status, 200);
      await laterMillisecond();
    }
    // By the id in upper case: the row is still the session's.
    assert.equal((await execute(service, id.toUpperCase(), { n: 5 })).status, 200);
    await laterMillisecond();
    assert.equal((await execute(service, id, { fail: true })).status, 500);
    await executeRowsLanded(service, db, id, 6);

    const { pages, items } = await allPages(service, `/api/v1/sessions/${id}/executions?limit=4`, 'executions');
    assert.deepEqual(pages.map((p) => p.length), [4, 2]);
    assert.equal(items.length, 6, 'executes only: the initialize row is not one');
    for (let i = 1; i < items.length; i++) assert.ok(Date.parse(items[i - 1]?.timestamp) >= Date.parse(items[i]?.timestamp), 'newest first');
    const [failed, ...done] = items;
    assert.equal(failed?.status_code, 500);
    assert.equal(failed?.error_code, 'RUNTIME_ERROR');
    assert.match(failed?.error_message, /failed on purpose/);
    assert.deepEqual(failed?.params, { fail: true });
    assert.equal(failed?.response.error.code, 'RUNTIME_ERROR');
    assert.deepEqual(done.map((e) => e.params.n as number), [5, 4, 3, 2, 1]);
    for (const e of done) {
      assert.equal(e.status_code, 200);
      assert.equal(e.error_code, null);
      assert.equal(e.cached, false);
      assert.equal(typeof e.duration_ms, 'number');
      assert.deepEqual(e.response.result, { n: e.params.n });
    }
    assert.equal(done[4]?.params.password, '[masked]');
    assert.equal(done[4]?.correlation_id, 'run-1');
    assert.ok(!JSON.stringify(items).includes('hunter2'));

    const page = await call(service, 'GET', `/api/v1/sessions/${id}/executions`);
    assert.equal(page.body.request_id, id);
    assert.equal(page.body.language_title, 'nodejs-history');

    // An ended session's history stays readable; a deleted one's, an unknown one's do not.
    assert.equal((await call(service, 'GET', '/api/v1/sessions/00000000-0000-4000-8000-000000000000/executions')).status, 404);
    assert.equal((await call(service, 'GET', '/api/v1/sessions/not-a-uuid/executions')).status, 400);
    await call(service, 'DELETE', `/api/v1/sessions/${id}`);
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${id}/executions`)).status, 404);
  });

  it('counts a function\'s calls, errors and cache hits from real executes, and their percentiles as the rows say', async () => {
    const init = await initialize(service, 'nodejs-counted', { script_content: 'if (event.params.fail) throw new Error("no"); return event.params.n;' });
    const id = init.body.request_id as string;
    assert.equal((await execute(service, id, { n: 1 })).body.cached, false);
    assert.equal((await execute(service, id, { n: 1 })).body.cached, true);
    assert.equal((await execute(service, id, { n: 2 })).status, 200);
    assert.equal((await execute(service, id, { fail: true })).status, 500);
    await executeRowsLanded(service, db, id, 4);

    const stats = await call(service, 'GET', '/api/v1/functions/nodejs-counted/stats');
    assert.equal(stats.status, 200, JSON.stringify(stats.body));
    assert.equal(stats.body.window, '1h');
    assert.equal(stats.body.calls, 4, 'the initialize is not a call');
    assert.equal(stats.body.errors, 1);
    assert.equal(stats.body.cache_hits, 1);
    const durations = (await db.query<{ duration_ms: number }>('SELECT duration_ms FROM public.request_logs WHERE request_id = $1 AND endpoint = $2', [id, EXECUTE_ENDPOINT]))
      .map((r) => r.duration_ms)
      .sort((a, b) => a - b);
    assert.ok(Math.abs(stats.body.p50_ms - percentile(durations, 0.5)) < 0.002, `${stats.body.p50_ms} vs ${percentile(durations, 0.5)}`);
    assert.ok(Math.abs(stats.body.p99_ms - percentile(durations, 0.99)) < 0.002);
  });

  it('computes stats over the window only, in buckets of the window\'s size, from rows of known durations', async () => {
    const title = 'nodejs-synthetic';
    const insert = (ago: string, count: number, duration: string, extra: { status?: string; cached?: string; endpoint?: string; title?: string } = {}) =>
      db.query(
        `INSERT INTO public.request_logs (request_id, language_title, timestamp, status_code, duration_ms, cached, endpoint)
         SELECT gen_random_uuid()::text, $1, now() - $2::interval, ${extra.status ?? '200'}, ${duration}, ${extra.cached ?? 'false'}, $3
           FROM generate_series(1, ${count}) AS i`,
        [extra.title ?? title, ago, extra.endpoint ?? EXECUTE_ENDPOINT],
      );
    // 5 minutes ago: durations 1..100 ms, every 10th an error, every 4th a cache hit.
    await insert('5 minutes', 100, 'i', { status: 'CASE WHEN i % 10 = 0 THEN 500 ELSE 200 END', cached: 'i % 4 = 0' });
    await insert('40 minutes', 20, '1000');
    await insert('3 hours', 7, '1');
    // Not counted: initialize rows, and another title's.
    await insert('5 minutes', 3, '1', { endpoint: 'POST /api/v1/initialize' });
    await insert('5 minutes', 2, '1', { title: 'nodejs-other' });

    const hour = await call(service, 'GET', `/api/v1/functions/${title}/stats?window=1h`);
    assert.equal(hour.status, 200, JSON.stringify(hour.body));
    const h = hour.body;
    assert.equal(h.calls, 120);
    assert.equal(h.errors, 10);
    assert.equal(h.cache_hits, 25);
    const all = [...Array.from({ length: 100 }, (_, i) => i + 1), ...Array<number>(20).fill(1000)];
    assert.equal(h.p50_ms, percentile(all, 0.5));
    assert.equal(h.p50_ms, 60.5);
    assert.equal(h.p95_ms, 1000);
    assert.equal(h.bucket_seconds, 120);
    const bucketMs = 120_000;
    assert.equal(h.buckets.length, Math.floor(Date.parse(h.to) / bucketMs) - Math.floor(Date.parse(h.from) / bucketMs) + 1);
    assert.ok(h.buckets.length >= 30 && h.buckets.length <= 31);
    assert.equal(Date.parse(h.to) - Date.parse(h.from), 3600_000);
    assert.equal((h.buckets as Json[]).reduce((sum, b) => sum + (b.calls as number), 0), 120, 'the buckets add up to the window');
    const [recent] = await db.query<{ t: Date }>(`SELECT min(timestamp) AS t FROM public.request_logs WHERE language_title = $1 AND timestamp > now() - interval '10 minutes'`, [title]);
    const recentStart = new Date(Math.floor((recent?.t as Date).getTime() / bucketMs) * bucketMs).toISOString();
    const bucket = (h.buckets as Json[]).find((b) => b.start === recentStart);
    assert.deepEqual(bucket, { start: recentStart, calls: 100, errors: 10, cache_hits: 25, p50_ms: 50.5, p95_ms: 95.05, p99_ms: 99.01 });
    const empty = (h.buckets as Json[]).find((b) => b.calls === 0);
    assert.deepEqual(empty && { ...empty, start: 'x' }, { start: 'x', calls: 0, errors: 0, cache_hits: 0, p50_ms: null, p95_ms: null, p99_ms: null });

    const six = await call(service, 'GET', `/api/v1/functions/${title}/stats?window=6h`);
    assert.equal(six.body.calls, 127, 'the rows of 3 hours ago are in 6 hours, not in 1');
    assert.equal(six.body.bucket_seconds, 600);
    for (const [window, seconds] of [['15m', 60], ['24h', 1800], ['7d', 14_400]] as const) {
      const res = await call(service, 'GET', `/api/v1/functions/${title}/stats?window=${window}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.bucket_seconds, seconds);
      assert.ok(res.body.buckets.length >= 15 && res.body.buckets.length <= 61, `${window}: ${res.body.buckets.length} buckets`);
    }
    assert.equal((await call(service, 'GET', `/api/v1/functions/${title}/stats?window=15m`)).body.calls, 100, 'only the rows of 5 minutes ago');

    const none = await call(service, 'GET', '/api/v1/functions/nodejs-never-called/stats');
    assert.equal(none.status, 200);
    assert.equal(none.body.calls, 0);
    assert.equal(none.body.p50_ms, null);
    for (const url of [`/api/v1/functions/${title}/stats?window=2h`, `/api/v1/functions/${title}/stats?window=`, '/api/v1/functions/cobol-x/stats']) {
      const res = await call(service, 'GET', url);
      assert.equal(res.status, 400, url);
      assert.equal(res.body.error.code, 'INVALID_REQUEST');
    }
  });

  it('PATCH makes a new version: new sessions run it, running sessions keep their script and params schema', async () => {
    const created = await call(service, 'POST', '/api/v1/functions', {
      body: {
        language_title: 'nodejs-versioned',
        script_content: 'return "v1:" + event.params.n;',
        description: 'first',
        schema: { params: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.version, '1.0.0');
    const old = await initialize(service, 'nodejs-versioned', {});
    assert.equal((await execute(service, old.body.request_id, { n: 1 })).body.result, 'v1:1');

    const patched = await call(service, 'PATCH', '/api/v1/functions/nodejs-versioned', {
      body: { script_content: 'return "v2:" + event.params.m;', schema: { params: { type: 'object', required: ['m'], properties: { m: { type: 'string' } } } } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.version, '2.0.0');
    assert.equal(patched.body.script_content, 'return "v2:" + event.params.m;');
    assert.equal(patched.body.description, 'first', 'what the body does not name stays');
    const shown = await call(service, 'GET', '/api/v1/functions/nodejs-versioned');
    assert.equal(shown.body.version, '2.0.0');
    assert.deepEqual(shown.body.schema.params.required, ['m']);

    const fresh = await initialize(service, 'nodejs-versioned', {});
    assert.equal((await execute(service, fresh.body.request_id, { m: 'x' })).body.result, 'v2:x');
    const refused = await execute(service, fresh.body.request_id, { n: 1 });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'INVALID_PARAMS', 'the new schema holds new sessions');
    const kept = await execute(service, old.body.request_id, { n: 2 });
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    assert.equal(kept.body.result, 'v1:2', 'the running session keeps its script and its schema');

    // The same values again: nothing changes. A description alone: a version.
    const same = await call(service, 'PATCH', '/api/v1/functions/nodejs-versioned', { body: { description: 'first' } });
    assert.equal(same.body.version, '2.0.0');
    const described = await call(service, 'PATCH', '/api/v1/functions/nodejs-versioned', { body: { description: 'second', examples: [{ params: { m: 'a' } }] } });
    assert.equal(described.body.version, '3.0.0');
    assert.equal(described.body.description, 'second');
    const rows = await db.query<{ version: string; content: string }>(
      `SELECT s.version, s.content FROM meta.scripts s JOIN meta.functions f ON f.id = s.function_id WHERE f.language_title = 'nodejs-versioned' ORDER BY s.created_at`,
    );
    assert.deepEqual(rows.map((r) => r.version), ['1.0.0', '2.0.0', '3.0.0']);

    const broken = await call(service, 'PATCH', '/api/v1/functions/nodejs-versioned', { body: { script_content: 'return (;' } });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error.code, 'COMPILATION_ERROR');
    for (const body of [{}, { language_title: 'nodejs-renamed' }, { colour: 'red' }, { tags: 'x' }, { schema: { params: { type: 'nonsense' } } }]) {
      const res = await call(service, 'PATCH', '/api/v1/functions/nodejs-versioned', { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'INVALID_REQUEST', JSON.stringify(body));
    }
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-versioned')).body.version, '3.0.0', 'refused changes change nothing');
    assert.equal((await call(service, 'PATCH', '/api/v1/functions/nodejs-nothing', { body: { description: 'x' } })).status, 404);
  });

  it('a session first executed after a change still runs on its version\'s schema (read from that version\'s row)', async () => {
    const schema = (field: string) => ({ params: { type: 'object', required: [field], properties: { [field]: { type: 'number' } } } });
    const created = await call(service, 'POST', '/api/v1/functions', { body: { language_title: 'nodejs-pinned', script_content: 'return event.params;', schema: schema('a') } });
    assert.equal(created.status, 201);
    // Nothing of version 1 is in this replica's memory when the change lands, as on a replica started since.
    const session = await initialize(service, 'nodejs-pinned', {});
    assert.equal((await call(service, 'PATCH', '/api/v1/functions/nodejs-pinned', { body: { schema: schema('b') } })).body.version, '2.0.0');
    const run = await execute(service, session.body.request_id, { a: 1 });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.deepEqual(run.body.result, { a: 1 });
    assert.equal((await execute(service, session.body.request_id, { b: 1 })).body.error.code, 'INVALID_PARAMS');
  });

  it('DELETE deactivates: GET and initialize answer 404, running sessions go on, the title stays taken', async () => {
    const created = await call(service, 'POST', '/api/v1/functions', { body: { language_title: 'nodejs-doomed', script_content: 'return "alive";' } });
    assert.equal(created.status, 201);
    const running = await initialize(service, 'nodejs-doomed', {});
    assert.equal(running.status, 200);

    const deleted = await call(service, 'DELETE', '/api/v1/functions/nodejs-doomed');
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body, { language_title: 'nodejs-doomed', status: 'deleted', version: '1.0.0' });
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-doomed')).status, 404);
    const init = await initialize(service, 'nodejs-doomed', {});
    assert.equal(init.status, 404);
    assert.equal(init.body.error.code, 'NOT_FOUND');
    const listed = await call(service, 'GET', '/api/v1/functions?type=dynamic&per_page=100');
    assert.ok(!(listed.body.functions as Json[]).some((f) => f.language_title === 'nodejs-doomed'));
    const rows = await db.query<{ is_active: boolean }>(`SELECT is_active FROM meta.functions WHERE language_title = 'nodejs-doomed'`);
    assert.deepEqual(rows, [{ is_active: false }]);
    assert.equal((await execute(service, running.body.request_id, {})).body.result, 'alive', 'a running session keeps its script');

    assert.equal((await call(service, 'DELETE', '/api/v1/functions/nodejs-doomed')).status, 404);
    assert.equal((await call(service, 'PATCH', '/api/v1/functions/nodejs-doomed', { body: { description: 'back' } })).status, 404);
    assert.equal((await call(service, 'POST', '/api/v1/functions', { body: { language_title: 'nodejs-doomed', script_content: 'return 1;' } })).status, 409);
  });

  it('refuses to change or delete a predefined function', async () => {
    for (const [method, body] of [['PATCH', { description: 'mine now' }], ['DELETE', undefined]] as const) {
      const res = await call(service, method, '/api/v1/functions/nodejs-calculator', body ? { body } : {});
      assert.equal(res.status, 403, method);
      assert.equal(res.body.error.code, 'FORBIDDEN');
      assert.equal(res.body.error.details.type, 'predefined');
    }
    const calculator = await call(service, 'GET', '/api/v1/functions/nodejs-calculator');
    assert.equal(calculator.status, 200);
    assert.equal(calculator.body.version, '1.0.0');
  });

  it('writes execute rows as the stats index expects them', async () => {
    // The partial index of migration 9 holds the rows whose endpoint is this literal.
    const migration = readFileSync(new URL('../../migrations/1700000000009_read-api-indexes.sql', import.meta.url), 'utf8');
    assert.ok(migration.includes(`WHERE endpoint = '${EXECUTE_ENDPOINT}'`));
    const endpoints = await db.query<{ endpoint: string }>(`SELECT DISTINCT endpoint FROM public.request_logs WHERE language_title = 'nodejs-counted'`);
    assert.deepEqual(endpoints.map((e) => e.endpoint).sort(), ['POST /api/v1/execute/:requestId', 'POST /api/v1/initialize']);
  });
});

describe('read APIs: ownership and scopes (auth on)', () => {
  const SECRET = 'read-apis-test-secret-that-is-long-enough';
  let db: TestDatabase;
  let service: RunningService;
  const token = (sub: string, scope: string): Promise<string> =>
    new SignJWT({ sub, scope }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
  const as = async (sub: string, scope = 'execute:all read:functions write:functions') => ({ authorization: `Bearer ${await token(sub, scope)}` });

  onScratchService({ AUTH_JWT_SECRET: SECRET, RATE_LIMIT_ENABLED: 'false' }, (started) => ({ db, service } = started));

  it('a user lists and reads only their own sessions and executions', async () => {
    const alice = await as('alice');
    const bob = await as('bob');
    const start = (headers: Record<string, string>, title: string) =>
      call(service, 'POST', '/api/v1/initialize', { headers: { ...headers, 'language-title': title }, body: { script_content: 'return event.params.n;', context: { user_id: 'bob' } } });
    const a1 = await start(alice, 'nodejs-owned');
    const a2 = await start(alice, 'nodejs-owned');
    const b1 = await start(bob, 'nodejs-owned');
    for (const s of [a1, a2, b1]) assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal((await call(service, 'POST', `/api/v1/execute/${a1.body.request_id}`, { headers: alice, body: { params: { n: 1 } } })).status, 200);
    await executeRowsLanded(service, db, a1.body.request_id, 1);

    const aliceList = await call(service, 'GET', '/api/v1/sessions', { headers: alice });
    assert.equal(aliceList.status, 200);
    assert.deepEqual((aliceList.body.sessions as Json[]).map((s) => s.request_id as string).sort(), [a1.body.request_id, a2.body.request_id].sort(), 'the token decides, not context.user_id');
    const bobList = await call(service, 'GET', '/api/v1/sessions', { headers: bob });
    assert.deepEqual((bobList.body.sessions as Json[]).map((s) => s.request_id as string), [b1.body.request_id]);

    const own = await call(service, 'GET', `/api/v1/sessions/${a1.body.request_id}/executions`, { headers: alice });
    assert.equal(own.status, 200);
    assert.equal(own.body.executions.length, 1);
    const other = await call(service, 'GET', `/api/v1/sessions/${a1.body.request_id}/executions`, { headers: bob });
    assert.equal(other.status, 404, 'another user\'s session does not exist for them');
    assert.equal(other.body.error.code, 'NOT_FOUND');

    assert.equal((await call(service, 'GET', '/api/v1/sessions')).status, 401);
    // Without a token: what GET of the session answers (404: it is someone's).
    const anonymous = await call(service, 'GET', `/api/v1/sessions/${a1.body.request_id}/executions`);
    assert.equal(anonymous.status, 404);
    assert.equal(anonymous.status, (await call(service, 'GET', `/api/v1/sessions/${a1.body.request_id}`)).status);
    const readOnly = await call(service, 'GET', '/api/v1/sessions', { headers: await as('alice', 'read:functions') });
    assert.equal(readOnly.status, 403, 'listing sessions needs an execute scope');
    const pythonOnly = await call(service, 'GET', '/api/v1/sessions', { headers: await as('alice', 'execute:python') });
    assert.equal(pythonOnly.status, 200);
    assert.deepEqual(pythonOnly.body.sessions, [], 'only the languages the caller may execute');
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${a1.body.request_id}/executions`, { headers: await as('alice', 'execute:python') })).status, 403);
  });

  it('stats need read:functions', async () => {
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-owned/stats', { headers: await as('carol', 'read:functions') })).status, 200);
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-owned/stats', { headers: await as('carol', 'execute:all') })).status, 403);
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-owned/stats')).status, 401);
  });

  it('only the registrant changes or deletes a function, and only with write:functions', async () => {
    const alice = await as('alice');
    const bob = await as('bob');
    const created = await call(service, 'POST', '/api/v1/functions', { headers: alice, body: { language_title: 'nodejs-alices', script_content: 'return 1;' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.user_id, 'alice');
    for (const [method, body] of [['PATCH', { description: 'bob was here' }], ['DELETE', undefined]] as const) {
      const res = await call(service, method, '/api/v1/functions/nodejs-alices', { headers: bob, ...(body ? { body } : {}) });
      assert.equal(res.status, 403, `${method} by another user`);
      assert.equal(res.body.error.code, 'FORBIDDEN');
      const unscoped = await call(service, method, '/api/v1/functions/nodejs-alices', { headers: await as('alice', 'execute:all read:functions'), ...(body ? { body } : {}) });
      assert.equal(unscoped.status, 403, `${method} without write:functions`);
      assert.deepEqual(unscoped.body.error.details.required_scope, ['write:functions']);
    }
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-alices', { headers: alice })).body.version, '1.0.0', 'refused: nothing changed');
    const patched = await call(service, 'PATCH', '/api/v1/functions/nodejs-alices', { headers: alice, body: { description: 'mine' } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.version, '2.0.0');
    assert.equal((await call(service, 'DELETE', '/api/v1/functions/nodejs-alices', { headers: alice })).status, 200);
  });
});
