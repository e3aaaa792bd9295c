/**
 * The SDK's retry policy, timed against a scripted HTTP server (node:http): a 429, and a 503 that
 * carries Retry-After or answers a GET, are tried again after Retry-After (or a short backoff
 * without one), at most `retries` times and never when the wait asked for is over the cap; every
 * other answer is final. (A real 429 from the service is in client.test.ts.)
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { createLambdaClient, LambdaApiError, NON_ENVELOPE_CODE } from '@lambda-microservice/client';

interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

const envelope = (code: string, message = code): string => JSON.stringify({ error: { code, message, details: {} } });
const OK_HEALTH: Scripted = { status: 200, body: JSON.stringify({ status: 'ok', version: 'test', components: {} }) };

describe('the SDK\'s retries', () => {
  let server: Server;
  let baseUrl: string;
  /** The answers still to give, in order; the requests received. */
  let script: Scripted[] = [];
  let received: string[] = [];

  before(async () => {
    server = createServer((request, response) => {
      received.push(`${request.method} ${request.url}`);
      request.resume();
      const next = script.shift() ?? { status: 500, body: envelope('INTERNAL_ERROR', 'no answer scripted') };
      response.writeHead(next.status, { 'content-type': 'application/json', 'x-request-id': `req-${received.length}`, ...next.headers });
      response.end(next.body ?? '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  function answer(...answers: Scripted[]): void {
    script = answers;
    received = [];
  }

  it('waits Retry-After seconds after a 429, then answers the retry', async () => {
    answer({ status: 429, headers: { 'retry-after': '1' }, body: envelope('RATE_LIMITED') }, OK_HEALTH);
    const started = Date.now();
    const report = await createLambdaClient({ baseUrl }).health();
    assert.equal(report.status, 'ok');
    assert.equal(received.length, 2);
    assert.ok(Date.now() - started >= 1000, `retried after ${Date.now() - started} ms`);
  });

  it('retries a 503 with Retry-After, at most `retries` times, then throws the last answer', async () => {
    const unavailable = { status: 503, headers: { 'retry-after': '0' }, body: envelope('RUNTIME_UNAVAILABLE', 'no runtime') };
    answer(unavailable, unavailable, unavailable, OK_HEALTH);
    const error = await createLambdaClient({ baseUrl, retries: 2 })
      .execute('3f0c8a52-8c59-4a47-9f0e-3c8f3f6e2b61', {})
      .catch((e: unknown) => e);
    assert.ok(error instanceof LambdaApiError);
    assert.equal(error.code, 'RUNTIME_UNAVAILABLE');
    assert.equal(error.requestId, 'req-3');
    assert.equal(received.length, 3, 'the first try and two retries');
  });

  it('does not send an execute again after a 503 without Retry-After (it may have run), but retries a read after a short backoff', async () => {
    const midCall = { status: 503, body: envelope('RUNTIME_UNAVAILABLE', 'the runtime died during the call') };
    answer(midCall, OK_HEALTH);
    const error = await createLambdaClient({ baseUrl })
      .execute('3f0c8a52-8c59-4a47-9f0e-3c8f3f6e2b61', {})
      .catch((e: unknown) => e);
    assert.ok(error instanceof LambdaApiError);
    assert.equal(error.status, 503);
    assert.equal(received.length, 1, 'not repeated');
    answer(midCall, OK_HEALTH);
    assert.equal((await createLambdaClient({ baseUrl }).health()).status, 'ok');
    assert.deepEqual(received, ['GET /health', 'GET /health']);
  });

  it('throws at once when Retry-After is over the longest wait', async () => {
    answer({ status: 429, headers: { 'retry-after': '30' }, body: envelope('RATE_LIMITED') }, OK_HEALTH);
    const started = Date.now();
    const error = await createLambdaClient({ baseUrl, maxRetryDelayMs: 10_000 })
      .initialize('nodejs-x', { script_content: 'return 1;' })
      .catch((e: unknown) => e);
    assert.ok(error instanceof LambdaApiError);
    assert.equal(error.status, 429);
    assert.equal(error.retryAfterSeconds, 30);
    assert.equal(received.length, 1);
    assert.ok(Date.now() - started < 1000);
  });

  it('never retries other answers: a 400 or a 500 of initialize is thrown after one request', async () => {
    for (const failure of [
      { status: 400, body: envelope('INVALID_REQUEST') },
      { status: 500, body: envelope('INTERNAL_ERROR') },
    ]) {
      answer(failure, OK_HEALTH);
      const error = await createLambdaClient({ baseUrl })
        .initialize('nodejs-x', { script_content: 'return 1;' })
        .catch((e: unknown) => e);
      assert.ok(error instanceof LambdaApiError);
      assert.equal(error.status, failure.status);
      assert.deepEqual(received, ['POST /api/v1/initialize']);
    }
  });

  it('reads an answer that is not the envelope as HTTP_ERROR, and a 503 health report as the report', async () => {
    answer({ status: 502, headers: { 'content-type': 'text/html' }, body: '<h1>Bad Gateway</h1>' });
    const error = await createLambdaClient({ baseUrl })
      .sessions.get('3f0c8a52-8c59-4a47-9f0e-3c8f3f6e2b61')
      .catch((e: unknown) => e);
    assert.ok(error instanceof LambdaApiError);
    assert.equal(error.code, NON_ENVELOPE_CODE);
    assert.equal(error.status, 502);
    assert.match(String(error.details.body), /Bad Gateway/);

    answer({ status: 503, body: JSON.stringify({ status: 'down', version: 'test', components: {} }) });
    assert.equal((await createLambdaClient({ baseUrl }).health()).status, 'down');
    assert.equal(received.length, 1, 'a report is an answer, not retried');
  });

  it('sends the token and the user agent', async () => {
    answer(OK_HEALTH);
    let headers: Record<string, string | string[] | undefined> = {};
    server.once('request', (request: { headers: typeof headers }) => (headers = request.headers));
    await createLambdaClient({ baseUrl, token: 'jwt-1', userAgent: 'sdk-test/1' }).health();
    assert.equal(headers.authorization, 'Bearer jwt-1');
    assert.equal(headers['user-agent'], 'sdk-test/1');
  });
});
