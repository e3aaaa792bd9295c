/**
 * /metrics behind METRICS_TOKEN, and failed authentications bounded per client address.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startTestService } from '../helpers/service.js';

const SECRET = 'test-secret-that-is-long-enough-0123456789';
const METRICS_TOKEN = 'scrape-me-0123456789';
const FAILURES = 3;

async function token(sub: string, secret = SECRET): Promise<string> {
  return new SignJWT({ sub, scope: 'read:functions' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
}

describe('operations limits', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: SECRET,
      RATE_LIMIT_ENABLED: 'false',
      METRICS_TOKEN,
      AUTH_FAILURES_PER_MINUTE: String(FAILURES),
    });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  const get = (url: string, headers: Record<string, string> = {}, remoteAddress = '10.0.0.1') =>
    service.app.inject({ method: 'GET', url, headers, remoteAddress });

  it('/metrics answers only with METRICS_TOKEN (a JWT is not it), in the envelope otherwise', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${await token('u1')}` }];
    for (const headers of attempts) {
      const res = await get('/metrics', headers, '10.0.0.9');
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error.code, 'UNAUTHORIZED');
    }
    const ok = await get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` }, '10.0.0.9');
    assert.equal(ok.statusCode, 200);
    assert.match(ok.body, /lambda_http_requests_total/);
    assert.equal((await get('/health', {}, '10.0.0.9')).statusCode, 200, '/health stays open');
  });

  it('after AUTH_FAILURES_PER_MINUTE failed authentications an address gets 429 at once; other addresses do not', async () => {
    const bad = { authorization: `Bearer ${await token('u2', 'another-secret-that-is-long-enough-000000')}` };
    for (let i = 0; i < FAILURES; i++) assert.equal((await get('/api/v1/functions', bad)).statusCode, 401);
    const refused = await get('/api/v1/functions', bad);
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'RATE_LIMITED');
    assert.equal(refused.json().error.details.reason, 'auth_failures');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    // The address is refused until its minute ends, even with a good token: no more signatures checked for it.
    assert.equal((await get('/api/v1/functions', { authorization: `Bearer ${await token('u2')}` })).statusCode, 429);
    // Another address is unaffected.
    assert.equal((await get('/api/v1/functions', { authorization: `Bearer ${await token('u3')}` }, '10.0.0.2')).statusCode, 200);
    assert.equal((await get('/api/v1/functions', bad, '10.0.0.2')).statusCode, 401);
  });
});
