/**
 * The read APIs (issue 16) over a million request_logs rows:
 *
 *   node --no-node-snapshot --import tsx bench/read-apis.ts
 *
 * A scratch database on the local PostgreSQL (127.0.0.1:5432, dropped at the end), the service
 * started on it in-process (its migrations run), then 2,000 sessions of 10 users over 20 functions
 * and 500 executes each (1,000,000 request_logs rows, their times spread over 7 days) inserted with
 * generate_series; beside them one session with 100,000 executes and a user with 20,000 sessions
 * (the long lists an index must page without sorting); VACUUM ANALYZE. Each read is timed through HTTP inject (auth on: a user's token,
 * so the whole route runs: JWT, validation, the query, serialization): the median and the slowest
 * of BENCH_READ_RUNS runs (default 25) after 3 warm-ups. The plan of each query, as the service's
 * own stores send it, is printed with EXPLAIN (ANALYZE, BUFFERS). Then the same reads again
 * without migration 9's indexes (BENCH_READ_RUNS_WITHOUT, default 5), for comparison.
 */
import { SignJWT } from 'jose';
import pg from 'pg';

import type { RunningService } from '../src/main/service.js';
import { PgRequestHistory } from '../src/storage/postgres/pg-request-history.js';
import { PgSessionStore } from '../src/storage/postgres/pg-session-store.js';
import { EXECUTE_ENDPOINT } from '../src/storage/request-log.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/postgres.js';
import { startTestService } from '../test/helpers/service.js';

const RUNS = Number(process.env.BENCH_READ_RUNS ?? 25);
const RUNS_WITHOUT = Number(process.env.BENCH_READ_RUNS_WITHOUT ?? 5);
const SESSIONS = 2000;
const ROWS_PER_SESSION = 500;
const USERS = 10;
const FUNCTIONS = 20;
const SECRET = 'read-apis-bench-secret-that-is-long-enough';
/** Beside them: a user with many sessions, and one session with many executes (rows beyond the million). */
const BUSY_USER_SESSIONS = 20_000;
const HOT_SESSION_ROWS = 100_000;
const HOT_SESSION = '00000000-0000-4000-8000-00000000a0a0';

interface Read {
  readonly name: string;
  readonly url: string;
  /** Another user's token than the default one. */
  readonly authorization?: string;
}

interface Timing {
  readonly name: string;
  readonly medianMs: number;
  readonly maxMs: number;
  readonly rows: number;
  readonly bytes: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

async function fill(db: pg.Pool): Promise<void> {
  // Sessions: one every 5 minutes back over 7 days; user-N owns every 10th.
  await db.query(
    `INSERT INTO meta.sessions (request_id, language_title, language, user_id, created_at, expires_at, status, context, script_content, script_hash, compile_status, metadata)
     SELECT gen_random_uuid(), 'nodejs-fn' || lpad((i % ${FUNCTIONS})::text, 2, '0'), 'nodejs', 'user-' || (i % ${USERS}),
            now() - i * interval '5 minutes', now() + interval '1 hour', CASE WHEN i % 4 = 0 THEN 'completed' ELSE 'active' END,
            '{}', 'return event.params.a + event.params.b;', 'bench', 'compiled', jsonb_build_object('owner', 'user-' || (i % ${USERS}))
       FROM generate_series(1, ${SESSIONS}) AS i`,
  );
  await db.query(
    `INSERT INTO meta.sessions (request_id, language_title, language, user_id, created_at, expires_at, status, context, script_content, metadata)
     SELECT gen_random_uuid(), 'nodejs-fn00', 'nodejs', 'user-busy', now() - i * interval '30 seconds', now() + interval '1 hour', 'active', '{}', 'return 1;', '{"owner": "user-busy"}'
       FROM generate_series(1, ${BUSY_USER_SESSIONS}) AS i`,
  );
  await db.query(
    `INSERT INTO meta.sessions (request_id, language_title, language, user_id, created_at, expires_at, status, context, script_content, metadata)
     VALUES ('${HOT_SESSION}', 'nodejs-fn01', 'nodejs', 'user-3', now() - interval '7 days', now() + interval '1 hour', 'active', '{}', 'return 1;', '{"owner": "user-3"}')`,
  );
  const started = performance.now();
  // In ten statements of 100,000 rows: one initialize row and ROWS_PER_SESSION executes per session.
  for (let part = 0; part < 10; part++) {
    await db.query(
      `WITH s AS (SELECT request_id, language_title, user_id, created_at FROM meta.sessions
                   WHERE user_id <> 'user-busy' AND request_id <> '${HOT_SESSION}' ORDER BY request_id OFFSET $1 LIMIT $2)
       INSERT INTO public.request_logs (request_id, language_title, timestamp, client_ip, user_id, request_headers, request_payload, response_payload,
                                        status_code, duration_ms, cached, error_details, runtime_metrics, endpoint, correlation_id)
       SELECT s.request_id::text, s.language_title, now() - random() * interval '7 days', '127.0.0.1', s.user_id,
              '{"content-type": "application/json", "authorization": "[masked]"}',
              jsonb_build_object('params', jsonb_build_object('a', g, 'b', 2, 'password', '[masked]')),
              CASE WHEN e THEN jsonb_build_object('error', jsonb_build_object('code', 'RUNTIME_ERROR', 'message', 'Error: failed on purpose'), 'request_id', s.request_id)
                   ELSE jsonb_build_object('request_id', s.request_id, 'language_title', s.language_title, 'result', g + 2, 'execution_time_ms', 0.4, 'cached', false, 'logs', '[]'::jsonb) END,
              CASE WHEN e THEN 500 ELSE 200 END, 0.3 + 40 * power(random(), 4), random() < 0.2,
              CASE WHEN e THEN '{"code": "RUNTIME_ERROR", "message": "Error: failed on purpose"}'::jsonb END,
              '{"status": "ok", "duration_ms": 0.3}', '${EXECUTE_ENDPOINT}', gen_random_uuid()::text
         FROM s, generate_series(1, ${ROWS_PER_SESSION}) AS g, LATERAL (SELECT random() < 0.02 AS e) AS failed`,
      [part * (SESSIONS / 10), SESSIONS / 10],
    );
    process.stdout.write('.');
  }
  await db.query(
    `INSERT INTO public.request_logs (request_id, language_title, timestamp, status_code, duration_ms, endpoint)
     SELECT request_id::text, language_title, created_at, 200, 5, 'POST /api/v1/initialize' FROM meta.sessions WHERE user_id <> 'user-busy'`,
  );
  await db.query(
    `INSERT INTO public.request_logs (request_id, language_title, timestamp, user_id, request_payload, response_payload, status_code, duration_ms, cached, endpoint, correlation_id)
     SELECT '${HOT_SESSION}', 'nodejs-fn01', now() - random() * interval '7 days', 'user-3', jsonb_build_object('params', jsonb_build_object('a', g, 'b', 2)),
            jsonb_build_object('request_id', '${HOT_SESSION}', 'result', g + 2), 200, 0.3 + 40 * power(random(), 4), false, '${EXECUTE_ENDPOINT}', gen_random_uuid()::text
       FROM generate_series(1, ${HOT_SESSION_ROWS}) AS g`,
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n${(SESSIONS * ROWS_PER_SESSION).toLocaleString('en')} request_logs rows in ${seconds.toFixed(1)} s (${Math.round((SESSIONS * ROWS_PER_SESSION) / seconds).toLocaleString('en')} rows/s, with the indexes in place)`);
  await db.query('VACUUM (ANALYZE) public.request_logs');
  await db.query('VACUUM (ANALYZE) meta.sessions');
}

async function time(service: RunningService, reads: readonly Read[], runs: number, authorization: string): Promise<Timing[]> {
  const timings: Timing[] = [];
  for (const read of reads) {
    const took: number[] = [];
    let rows = 0;
    let bytes = 0;
    for (let i = 0; i < runs + 3; i++) {
      const started = performance.now();
      const res = await service.app.inject({ method: 'GET', url: read.url, headers: { authorization: read.authorization ?? authorization } });
      const ms = performance.now() - started;
      if (res.statusCode !== 200) throw new Error(`${read.url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
      if (i >= 3) took.push(ms);
      const body = res.json<Record<string, unknown>>();
      rows = ((body.sessions ?? body.executions ?? body.buckets) as unknown[]).length;
      bytes = res.rawPayload.length;
    }
    timings.push({ name: read.name, medianMs: round(median(took)), maxMs: round(Math.max(...took)), rows, bytes });
  }
  return timings;
}

/** A pool that answers the stores' queries with nothing and keeps each one's EXPLAIN (ANALYZE, BUFFERS). */
function explaining(pool: pg.Pool, plans: string[]): pg.Pool {
  const query = async (sql: string, values?: unknown[]) => {
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, values);
    plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
    return { rows: [], rowCount: 0 };
  };
  return { query } as unknown as pg.Pool;
}

async function main(): Promise<void> {
  let db: TestDatabase | undefined;
  let service: RunningService | undefined;
  let pool: pg.Pool | undefined;
  try {
    db = await createTestDatabase();
    console.log(`scratch database ${db.name}`);
    service = await startTestService({ DATABASE_URL: db.url, AUTH_JWT_SECRET: SECRET, RATE_LIMIT_ENABLED: 'false', NODEJS_POOL_SIZE: '1', NODEJS_PROCESSES: '1' });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await fill(pool);

    const user = 'user-3';
    const token = `Bearer ${await new SignJWT({ sub: user, scope: 'execute:all read:functions' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))}`;
    const { rows: [session] } = await pool.query<{ request_id: string }>('SELECT request_id FROM meta.sessions WHERE user_id = $1 ORDER BY created_at DESC OFFSET 50 LIMIT 1', [user]);
    if (!session) throw new Error('no session');
    // Cursors deep in each list, found by walking it once.
    const walk = async (url: string, pages: number, authorization = token): Promise<string> => {
      let cursor = '';
      for (let i = 0; i < pages; i++) {
        const res = await service!.app.inject({ method: 'GET', url: `${url}${cursor ? `&cursor=${cursor}` : ''}`, headers: { authorization } });
        cursor = encodeURIComponent(String(res.json<{ next_cursor: string }>().next_cursor));
      }
      return cursor;
    };
    const executions = `/api/v1/sessions/${session.request_id}/executions?limit=100`;
    const hot = `/api/v1/sessions/${HOT_SESSION}/executions?limit=100`;
    const busyToken = `Bearer ${await new SignJWT({ sub: 'user-busy', scope: 'execute:all' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))}`;
    const reads: Read[] = [
      { name: 'sessions, first page (20)', url: '/api/v1/sessions?limit=20' },
      { name: 'sessions, 6th page (cursor)', url: `/api/v1/sessions?limit=20&cursor=${await walk('/api/v1/sessions?limit=20', 5)}` },
      { name: 'sessions, status + language_title filter', url: '/api/v1/sessions?status=active&language_title=nodejs-fn03&limit=20' },
      { name: `sessions of a user with ${BUSY_USER_SESSIONS.toLocaleString('en')}, first page (20)`, url: '/api/v1/sessions?limit=20', authorization: busyToken },
      { name: `sessions of a user with ${BUSY_USER_SESSIONS.toLocaleString('en')}, 100th page (cursor)`, url: `/api/v1/sessions?limit=20&cursor=${await walk('/api/v1/sessions?limit=20', 99, busyToken)}`, authorization: busyToken },
      { name: 'executions, first page (100)', url: executions },
      { name: 'executions, 4th page (cursor)', url: `${executions}&cursor=${await walk(executions, 3)}` },
      { name: `executions of a session with ${HOT_SESSION_ROWS.toLocaleString('en')}, first page (100)`, url: hot },
      { name: `executions of a session with ${HOT_SESSION_ROWS.toLocaleString('en')}, 50th page (cursor)`, url: `${hot}&cursor=${await walk(hot, 49)}` },
      { name: 'stats, window=1h (2 min buckets)', url: '/api/v1/functions/nodejs-fn03/stats?window=1h' },
      { name: 'stats, window=24h (30 min buckets)', url: '/api/v1/functions/nodejs-fn03/stats?window=24h' },
      { name: 'stats, window=7d (4 h buckets)', url: '/api/v1/functions/nodejs-fn03/stats?window=7d' },
    ];
    const { rows: [counts] } = await pool.query<{ n: string; fn: string; size: string }>(
      `SELECT (SELECT count(*) FROM public.request_logs) AS n,
              (SELECT count(*) FROM public.request_logs WHERE language_title = 'nodejs-fn03' AND endpoint = '${EXECUTE_ENDPOINT}') AS fn,
              pg_size_pretty(pg_total_relation_size('public.request_logs')) AS size`,
    );
    console.log(
      `request_logs: ${Number(counts?.n).toLocaleString('en')} rows (${counts?.size} with its indexes); nodejs-fn03: ${Number(counts?.fn).toLocaleString('en')} executes over 7 days; ${user}: ${SESSIONS / USERS + 1} sessions; user-busy: ${BUSY_USER_SESSIONS.toLocaleString('en')}`,
    );

    const withIndexes = await time(service, reads, RUNS, token);

    // The plans, of the very SQL the stores send.
    const plans: string[] = [];
    const explain = explaining(pool, plans);
    const now = new Date();
    await new PgSessionStore(explain).list({ owner: user, languages: undefined, limit: 20, now });
    await new PgSessionStore(explain).list({ owner: user, languages: undefined, languageTitle: 'nodejs-fn03', status: 'active', limit: 20, now });
    await new PgSessionStore(explain).list({ owner: 'user-busy', languages: undefined, limit: 20, now });
    await new PgRequestHistory(explain).executions(session.request_id, undefined, 100);
    await new PgRequestHistory(explain).executions(HOT_SESSION, { at: new Date(now.getTime() - 3 * 86_400_000).toISOString().replace('Z', '000Z'), id: HOT_SESSION }, 100);
    await new PgRequestHistory(explain).stats('nodejs-fn03', new Date(now.getTime() - 7 * 86_400_000), now, 14_400);
    const titles = ['sessions, first page', 'sessions, filtered', `sessions of a user with ${BUSY_USER_SESSIONS}`, 'executions, first page', `executions of a session with ${HOT_SESSION_ROWS}, a page 3 days back`, 'stats, window=7d'];
    plans.forEach((plan, i) => console.log(`\n--- EXPLAIN (ANALYZE, BUFFERS): ${titles[i]}\n${plan}`));

    // The same without migration 9's indexes (the initial schema's request_id index back).
    await pool.query(`DROP INDEX public.request_logs_request_id_timestamp_idx, public.request_logs_execute_stats_idx, meta.sessions_user_created_idx, meta.sessions_created_idx`);
    await pool.query('CREATE INDEX request_logs_request_id_idx ON public.request_logs (request_id)');
    await pool.query('ANALYZE public.request_logs');
    await pool.query('ANALYZE meta.sessions');
    const without = await time(service, reads, RUNS_WITHOUT, token);

    console.log(`\n| read (HTTP inject, auth on) | rows | bytes | median ms | slowest ms | median ms without migration 9's indexes |`);
    console.log('|---|---:|---:|---:|---:|---:|');
    withIndexes.forEach((t, i) => console.log(`| ${t.name} | ${t.rows} | ${t.bytes.toLocaleString('en')} | **${t.medianMs}** | ${t.maxMs} | ${without[i]?.medianMs} |`));
  } finally {
    await pool?.end().catch(() => undefined);
    await service?.stop().catch((error: unknown) => console.error('stop failed', error));
    await db?.drop().catch((error: unknown) => console.error('could not drop the scratch database', error));
  }
}

await main();
