/**
 * The typed SDK (packages/client) against the real service over HTTP: its helpers, the typed
 * error's fields, a real 429 (admission control) retried after its Retry-After, no retry of a
 * 400, an unreachable service as its own error; and that the service serves exactly the document
 * the SDK's types were generated from.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { before, describe, it } from 'node:test';

import { createLambdaClient, LambdaApiError, LambdaNetworkError, type LambdaClient } from '@lambda-microservice/client';

import type { RunningService } from '../../src/main/service.js';
import { onScratchService } from '../helpers/service.js';

/** A fetch that counts the requests it sends. */
function countingFetch(): { fetch: (input: Request) => Promise<Response>; calls: string[] } {
  const calls: string[] = [];
  return { calls, fetch: (input) => (calls.push(`${input.method} ${new URL(input.url).pathname}`), fetch(input)) };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('the typed SDK against the service over HTTP', () => {
  let service: RunningService;
  let baseUrl: string;
  let lambda: LambdaClient;

  // One execute at a time per session: a second one is a real 429 with Retry-After (1 s).
  onScratchService({ MAX_CONCURRENT_EXECUTES_PER_SESSION: '1' }, (started) => {
    service = started.service;
  });
  before(async () => {
    baseUrl = await service.app.listen({ host: '127.0.0.1', port: 0 });
    lambda = createLambdaClient({ baseUrl });
  });

  it('is typed from the document the service serves', async () => {
    const served: unknown = await (await fetch(`${baseUrl}/api/v1/openapi.json`)).json();
    const committed = JSON.parse(await readFile(new URL('../../packages/client/openapi.json', import.meta.url), 'utf8')) as unknown;
    assert.deepEqual(served, committed, 'packages/client/openapi.json is stale: run npm run gen:client');
  });

  it('initializes, executes (cached, then not with noCache) and runs in one call', async () => {
    const session = await lambda.initialize('nodejs-sdk_add', { script_content: 'console.log("adding"); return event.params.a + event.params.b;', context: { timeout_ms: 5000 } });
    assert.equal(session.status, 'initialized');
    const first = await lambda.execute(session.request_id, { a: 2, b: 3 });
    assert.equal(first.result, 5);
    assert.deepEqual(first.logs, ['adding']);
    assert.equal(first.request_id, session.request_id);
    assert.equal((await lambda.execute(session.request_id, { a: 2, b: 3 })).cached, true);
    assert.equal((await lambda.execute(session.request_id, { a: 2, b: 3 }, { noCache: true })).cached, false);

    const ran = await lambda.run('python-sdk_hello', 'def handle(params):\n    return {"hello": params["name"]}\n', { name: 'sdk' });
    assert.deepEqual(ran.result, { hello: 'sdk' });
    assert.equal(ran.language_title, 'python-sdk_hello');
    assert.match(ran.request_id, /^[0-9a-f-]{36}$/);
  });

  it('lists, reads, extends and deletes sessions, and reads a session\'s executions', async () => {
    const { request_id: id } = await lambda.initialize('nodejs-sdk_sessions', { script_content: 'return event.params.n * 2;' });
    await lambda.execute(id, { n: 21 });
    const page = await lambda.sessions.list({ language_title: 'nodejs-sdk_sessions', limit: 5 });
    assert.deepEqual(
      page.sessions.map((s) => s.request_id),
      [id],
    );
    assert.equal(page.next_cursor, null);
    assert.equal((await lambda.sessions.get(id)).execution_count, 1);

    const later = new Date(Date.now() + 2 * 3600_000);
    const extended = await lambda.sessions.extend(id, later);
    assert.equal(Date.parse(extended.expires_at), later.getTime());

    await service.flush();
    const executions = await lambda.executions(id, { limit: 10 });
    assert.equal(executions.executions.length, 1);
    assert.deepEqual(executions.executions[0]?.params, { n: 21 });
    assert.equal(executions.executions[0]?.status_code, 200);

    assert.equal((await lambda.sessions.delete(id)).status, 'deleted');
    const gone = await rejection(lambda.sessions.get(id));
    assert.ok(gone instanceof LambdaApiError);
    assert.equal(gone.status, 404);
    assert.equal(gone.code, 'NOT_FOUND');
  });

  it('registers, reads, changes, counts and deletes a function', async () => {
    const created = await lambda.functions.register({
      language_title: 'nodejs-sdk_double',
      script_content: 'return event.params.n * 2;',
      description: 'doubles n',
      schema: { params: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } },
      tags: ['math'],
    });
    assert.equal(created.version, '1.0.0');
    assert.equal((await lambda.functions.get('nodejs-sdk_double')).script_content, 'return event.params.n * 2;');
    assert.ok((await lambda.functions.list({ type: 'dynamic' })).functions.some((f) => f.language_title === 'nodejs-sdk_double'));

    const session = await lambda.initialize('nodejs-sdk_double');
    assert.equal((await lambda.execute(session.request_id, { n: 4 })).result, 8);
    const invalid = await rejection(lambda.execute(session.request_id, { m: 1 }));
    assert.ok(invalid instanceof LambdaApiError);
    assert.equal(invalid.code, 'INVALID_PARAMS');

    assert.equal((await lambda.functions.update('nodejs-sdk_double', { description: 'twice n' })).version, '2.0.0');
    await service.flush();
    const stats = await lambda.functions.stats('nodejs-sdk_double', '15m');
    assert.equal(stats.calls, 2);
    assert.equal(stats.errors, 1);
    assert.equal((await lambda.functions.delete('nodejs-sdk_double')).status, 'deleted');
    assert.equal(((await rejection(lambda.functions.get('nodejs-sdk_double'))) as LambdaApiError).status, 404);
  });

  it('throws LambdaApiError with the envelope\'s code, message and details, the X-Request-ID and the session', async () => {
    const compile = await rejection(lambda.initialize('nodejs-sdk_broken', { script_content: 'const a = 1;\nreturn a +* 2;' }, { requestId: 'sdk-compile-1' }));
    assert.ok(compile instanceof LambdaApiError);
    assert.equal(compile.name, 'LambdaApiError');
    assert.equal(compile.status, 400);
    assert.equal(compile.code, 'COMPILATION_ERROR');
    assert.match(compile.message, /SyntaxError/);
    assert.equal(compile.details.line, 2);
    assert.equal(compile.requestId, 'sdk-compile-1');

    const { request_id: id } = await lambda.initialize('nodejs-sdk_throws', { script_content: 'console.log("before");\nthrow new Error("boom");' });
    const runtime = await rejection(lambda.execute(id, {}, { requestId: 'sdk-runtime-1' }));
    assert.ok(runtime instanceof LambdaApiError);
    assert.equal(runtime.status, 500);
    assert.equal(runtime.code, 'RUNTIME_ERROR');
    assert.equal(runtime.sessionId, id);
    assert.equal(runtime.requestId, 'sdk-runtime-1');
    assert.equal(runtime.details.line, 2);
    assert.deepEqual(runtime.details.logs, ['before']);
  });

  it('does not retry a 400, not even of initialize', async () => {
    const counting = countingFetch();
    const client = createLambdaClient({ baseUrl, fetch: counting.fetch });
    const error = await rejection(client.initialize('no language title', { script_content: 'return 1;' }));
    assert.ok(error instanceof LambdaApiError);
    assert.equal(error.code, 'INVALID_REQUEST');
    assert.deepEqual(counting.calls, ['POST /api/v1/initialize']);
  });

  it('retries a real 429 after its Retry-After, and throws it typed when retries are off', async () => {
    // A session whose execute holds its one slot until the test lets it finish.
    const { request_id: id } = await lambda.initialize('nodejs-sdk_slow', { script_content: 'await new Promise((resolve) => setTimeout(resolve, 800)); return event.params.i;' });
    const inFlight = async (): Promise<number> => Number(/^lambda_executes_in_flight (\d+)/m.exec(await (await fetch(`${baseUrl}/metrics`)).text())?.[1] ?? 0);

    const slow = lambda.execute(id, { i: 1 }, { noCache: true });
    while ((await inFlight()) === 0) await new Promise((resolve) => setImmediate(resolve));
    const noRetry = await rejection(createLambdaClient({ baseUrl, retries: 0 }).execute(id, { i: 2 }, { noCache: true }));
    assert.ok(noRetry instanceof LambdaApiError);
    assert.equal(noRetry.status, 429);
    assert.equal(noRetry.code, 'RATE_LIMITED');
    assert.equal(noRetry.retryAfterSeconds, 1);
    assert.equal(noRetry.details.reason, 'concurrency_limit');

    const counting = countingFetch();
    const started = Date.now();
    const retried = await createLambdaClient({ baseUrl, fetch: counting.fetch }).execute(id, { i: 3 }, { noCache: true });
    assert.equal(retried.result, 3);
    // One 429 (two if this machine is slow enough that the first retry still finds the slot taken), then the answer.
    assert.ok(counting.calls.length >= 2, counting.calls.join(', '));
    assert.ok(Date.now() - started >= 1000 * (counting.calls.length - 1), 'waited Retry-After: 1 before each retry');
    assert.equal((await slow).result, 1);
  });

  it('answers health and runtimes; an unreachable service is a LambdaNetworkError', async () => {
    const health = await lambda.health();
    assert.equal(health.status, 'ok');
    const runtimes = await lambda.runtimes();
    assert.ok(Array.isArray(runtimes.runtimes));

    const port = await closedPort();
    const error = await rejection(createLambdaClient({ baseUrl: `http://127.0.0.1:${port}` }).health());
    assert.ok(error instanceof LambdaNetworkError);
    assert.equal(error.errno, 'ECONNREFUSED');
    assert.match(error.message, new RegExp(`cannot reach http://127.0.0.1:${port}/health`));
  });
});
