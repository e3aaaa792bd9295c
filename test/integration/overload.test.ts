/**
 * Under load, over real HTTP on loopback: hundreds of connections against one session with a low
 * concurrency bound. Every answer is a 200 or an at-once 429 in the envelope, every answered
 * execute has exactly one request_logs row (every error its error_logs row), and a flood of bad
 * requests mixed in loses none of the valid ones. Bounded in count and time; asserts counts only.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import { runLoad, type LoadAnswer, type LoadRequest } from '../helpers/load.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { initialize, startTestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const PER_SESSION = 4;
// A few milliseconds of work per call, so that calls pile up past the bound.
const SCRIPT = 'const end = Date.now() + 2; while (Date.now() < end) {} return event.params.i;';

function envelopeOf(answer: LoadAnswer): { code: string; message: string; details: Record<string, unknown> } {
  const body = JSON.parse(answer.body) as { error?: { code: string; message: string; details: Record<string, unknown> } };
  assert.ok(body.error, `an error envelope: ${answer.body.slice(0, 200)}`);
  return body.error;
}

function countBy<T>(items: readonly T[], key: (item: T) => string | number): Map<string | number, number> {
  const counts = new Map<string | number, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** Sends raw bytes on a new connection and returns everything the server answers before closing. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString()) : reject(error)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

describe('overload: shed at once, nothing lost (real HTTP, real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let port: number;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, MAX_CONCURRENT_EXECUTES_PER_SESSION: String(PER_SESSION), NODEJS_PROCESSES: '1' });
    await service.app.listen({ host: '127.0.0.1', port: 0 });
    const address = service.app.server.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  async function session(title: string): Promise<string> {
    const init = await initialize(service, title, { script_content: SCRIPT });
    assert.equal(init.status, 200);
    return init.body.request_id as string;
  }

  /** Rows of the session's executes (its initialize has one too), by status. */
  async function rowsOf(requestId: string): Promise<Map<string | number, number>> {
    await service.flush();
    const rows = await db.query<{ status_code: number; n: string }>("SELECT status_code, count(*) AS n FROM public.request_logs WHERE request_id = $1 AND endpoint LIKE 'POST /api/v1/execute/%' GROUP BY 1", [requestId]);
    return new Map(rows.map((r) => [r.status_code, Number(r.n)]));
  }

  it('300 connections on one session: 200s and at-once 429s only, one request_logs row per answer', async () => {
    const id = await session('nodejs-overload');
    const { answers, failures } = await runLoad({
      port,
      connections: 300,
      requests: 3000,
      maxMs: 20_000,
      make: (i) => ({ path: `/api/v1/execute/${id}`, body: JSON.stringify({ params: { i } }), headers: { 'x-cache-control': 'no-cache' } }),
    });
    assert.equal(failures, 0, 'every request got an HTTP answer');
    const statuses = countBy(answers, (a) => a.status);
    const ok = statuses.get(200) ?? 0;
    const shed = statuses.get(429) ?? 0;
    assert.deepEqual([...statuses.keys()].sort(), [200, 429], `only 200 and 429: ${JSON.stringify([...statuses])}`);
    assert.ok(ok > 0 && shed > 0, `some admitted (${ok}) and some shed (${shed})`);
    for (const answer of answers.filter((a) => a.status === 429)) {
      const error = envelopeOf(answer);
      assert.equal(error.code, 'RATE_LIMITED');
      assert.equal(error.details.reason, 'concurrency_limit');
      assert.equal(error.details.scope, 'session');
      assert.equal(error.details.limit, PER_SESSION);
      assert.equal(answer.headers['retry-after'], '1');
    }
    for (const answer of answers.filter((a) => a.status === 200)) assert.equal(typeof (JSON.parse(answer.body) as { result: unknown }).result, 'number');

    const rows = await rowsOf(id);
    assert.equal(rows.get(200), ok, 'one request_logs row per 200');
    assert.equal(rows.get(429), shed, 'one request_logs row per 429');
    const errorRows = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM public.error_logs e JOIN public.request_logs r ON r.id = e.request_log_id WHERE r.request_id = $1',
      [id],
    );
    assert.equal(Number(errorRows[0]?.n), shed, 'an error_logs row per refused execute');
    const metrics = await service.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, new RegExp(`lambda_executes_shed_total\\{scope="session"\\} ${shed}\\b`));
  });

  it('a flood of invalid bodies, unknown sessions and oversized headers mixed with valid traffic: each answered in the envelope, no valid row lost', async () => {
    const id = await session('nodejs-mixed');
    const unknown = '00000000-0000-4000-8000-000000000000';
    const kinds = ['valid', 'bad-json', 'not-object', 'unknown-session', 'valid'] as const;
    const load = runLoad({
      port,
      connections: 100,
      requests: 1500,
      maxMs: 20_000,
      make: (i): LoadRequest => {
        const kind = kinds[i % kinds.length];
        switch (kind) {
          case 'bad-json':
            return { path: `/api/v1/execute/${id}`, body: '{"params": ', headers: { 'x-request-id': `bad-${i}` } };
          case 'not-object':
            return { path: `/api/v1/execute/${id}`, body: '[1,2,3]', headers: { 'x-request-id': `bad-${i}` } };
          case 'unknown-session':
            return { path: `/api/v1/execute/${unknown}`, body: '{"params":{}}' };
          default:
            return { path: `/api/v1/execute/${id}`, body: JSON.stringify({ params: { i } }), headers: { 'x-cache-control': 'no-cache', 'x-request-id': `valid-${i}` } };
        }
      },
    });
    // Oversized headers meanwhile, on connections of their own.
    const oversized = Promise.all(
      Array.from({ length: 20 }, () => rawExchange(port, `POST /api/v1/execute/${id} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\nContent-Length: 2\r\n\r\n{}`)),
    );
    const [{ answers, failures }, raw] = await Promise.all([load, oversized]);
    assert.equal(failures, 0);
    for (const text of raw) {
      assert.match(text, /^HTTP\/1\.1 431 /);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; details: { limit_bytes: number } } };
      assert.equal(body.error.code, 'INVALID_REQUEST');
      assert.equal(body.error.details.limit_bytes, 16_384);
    }
    const valid = answers.filter((a) => a.status === 200 || a.status === 429);
    for (const answer of answers) {
      if (answer.status === 200) continue;
      const error = envelopeOf(answer);
      assert.ok(['INVALID_REQUEST', 'NOT_FOUND', 'RATE_LIMITED'].includes(error.code), `${answer.status} ${error.code}`);
    }
    const statuses = countBy(answers, (a) => a.status);
    assert.equal(statuses.get(404), answers.length / kinds.length, 'every unknown session answered 404');
    assert.ok((statuses.get(200) ?? 0) > 0);

    const rows = await rowsOf(id);
    assert.equal(rows.get(200) ?? 0, statuses.get(200) ?? 0, 'every valid execute that answered 200 has its row');
    assert.equal((rows.get(200) ?? 0) + (rows.get(429) ?? 0) + (rows.get(400) ?? 0), valid.length + (statuses.get(400) ?? 0), 'and every other answer of this session too');
  });

  it('an execute whose client goes away before the answer still gets its row (499), with what the answer would have been', async () => {
    const init = await initialize(service, 'nodejs-abandoned', { script_content: 'const end = Date.now() + 400; while (Date.now() < end) {} return "done";' });
    const id = init.body.request_id as string;
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/api/v1/execute/${id}`, headers: { 'content-type': 'application/json', 'x-cache-control': 'no-cache' } });
    req.on('error', () => undefined);
    req.end('{"params":{}}');
    const inFlight = async (): Promise<boolean> => /lambda_executes_in_flight 1\b/.test((await service.app.inject({ method: 'GET', url: '/metrics' })).body);
    await waitFor('the execute to be running', inFlight);
    req.destroy();
    await waitFor('its row', async () => (await rowsOf(id)).get(499) === 1);
    const [row] = await db.query<{ error_details: { code: string; status: number } }>(
      "SELECT error_details FROM public.request_logs WHERE request_id = $1 AND status_code = 499",
      [id],
    );
    assert.equal(row?.error_details.code, 'CLIENT_CLOSED');
    assert.equal(row?.error_details.status, 200);
  });
});
