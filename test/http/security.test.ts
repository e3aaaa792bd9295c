import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

const SECRET = 'test-secret-that-is-long-enough-0123456789';

async function hs256(claims: Record<string, unknown>, options: { expiresIn?: string | number; secret?: string; notBefore?: string | number } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  jwt = jwt.setExpirationTime(options.expiresIn ?? '5m');
  if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

describe('authentication and scopes (HS256)', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: 'https://issuer.test', AUTH_AUDIENCE: 'lambda', RATE_LIMIT_ENABLED: 'false' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  const claims = (sub: string, scope: string): Record<string, unknown> => ({ sub, scope, iss: 'https://issuer.test', aud: 'lambda' });

  it('refuses callers without a token (401) but not /health', async () => {
    const res = await initialize(service, 'nodejs-x', { script_content: 'return 1;' });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'UNAUTHORIZED');
    assert.equal((await call(service, 'GET', '/api/v1/functions')).status, 401);
    assert.equal((await call(service, 'GET', '/health')).status, 200);
  });

  it('refuses bad tokens with 401 and says why', async () => {
    const cases: [string, string, RegExp][] = [
      ['expired', await hs256(claims('u', 'execute:all'), { expiresIn: Math.floor(Date.now() / 1000) - 60 }), /expired/],
      ['not yet valid', await hs256(claims('u', 'execute:all'), { notBefore: '10m' }), /claim/],
      ['wrong issuer', await hs256({ ...claims('u', 'execute:all'), iss: 'https://evil.test' }), /claim/],
      ['wrong audience', await hs256({ ...claims('u', 'execute:all'), aud: 'other' }), /claim/],
      ['bad signature', await hs256(claims('u', 'execute:all'), { secret: 'another-secret-that-is-long-enough-000000' }), /signature/],
      ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims('u', 'execute:all'), exp: 9999999999 })).toString('base64url')}.`, /./],
      ['no sub', await hs256({ scope: 'execute:all', iss: 'https://issuer.test', aud: 'lambda' }), /claim/],
    ];
    for (const [name, token, reason] of cases) {
      const res = await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(token), 'language-title': 'nodejs-x' }, body: { script_content: 'return 1;' } });
      assert.equal(res.status, 401, name);
      assert.equal(res.body.error.code, 'UNAUTHORIZED', name);
      assert.match(res.body.error.message, reason, name);
    }
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not.a.jwt.at.all', `Bearer ${'a'.repeat(9000)}.b.c`]) {
      const res = await call(service, 'GET', '/api/v1/functions', { headers: { authorization: header } });
      assert.equal(res.status, 401, header.slice(0, 20));
    }
  });

  it('checks execute scopes per language', async () => {
    const nodeOnly = await hs256(claims('alice', 'execute:nodejs'));
    const ok = await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(nodeOnly), 'language-title': 'nodejs-scoped' }, body: { script_content: 'return 7;' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const run = await execute(service, ok.body.request_id, {}, bearer(nodeOnly));
    assert.equal(run.body.result, 7);
    const python = await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(nodeOnly), 'language-title': 'python-scoped' }, body: { script_content: 'result = 1' } });
    assert.equal(python.status, 403);
    assert.equal(python.body.error.code, 'FORBIDDEN');
    const readOnly = await hs256(claims('alice', 'read:functions'));
    assert.equal((await execute(service, ok.body.request_id, {}, bearer(readOnly))).status, 403);
    const all = await hs256(claims('alice', 'execute:all'));
    assert.equal((await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(all), 'language-title': 'python-all' }, body: { script_content: 'result = 1' } })).status, 200);
  });

  it('keeps a session to its creator: another user gets 404 everywhere', async () => {
    const alice = await hs256(claims('alice', 'execute:all'));
    const bob = await hs256(claims('bob', 'execute:all'));
    const init = await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(alice), 'language-title': 'nodejs-mine' }, body: { script_content: 'return 1;', context: { user_id: 'someone-else' } } });
    const id = init.body.request_id as string;
    const rows = await db.query<{ user_id: string }>('SELECT user_id FROM meta.sessions WHERE request_id = $1', [id]);
    assert.equal(rows[0]?.user_id, 'alice', 'the token decides the user, not the context');
    assert.equal((await execute(service, id, {}, bearer(bob))).status, 404);
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${id}`, { headers: bearer(bob) })).status, 404);
    assert.equal((await call(service, 'PATCH', `/api/v1/sessions/${id}`, { headers: bearer(bob), body: { context: { x: 1 } } })).status, 404);
    assert.equal((await call(service, 'DELETE', `/api/v1/sessions/${id}`, { headers: bearer(bob) })).status, 404);
    assert.equal((await execute(service, id, {}, bearer(alice))).status, 200, 'still alive for its owner');
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${id}`, { headers: bearer(alice) })).status, 200);
  });

  it('needs read:functions to read the catalog and write:functions to register', async () => {
    const reader = await hs256(claims('carol', 'read:functions'));
    const writer = await hs256(claims('carol', 'write:functions read:functions'));
    assert.equal((await call(service, 'GET', '/api/v1/functions', { headers: bearer(reader) })).status, 200);
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-calculator', { headers: bearer(reader) })).status, 200);
    const body = { language_title: 'nodejs-carols', script_content: 'return 1;' };
    assert.equal((await call(service, 'POST', '/api/v1/functions', { headers: bearer(reader), body })).status, 403);
    const created = await call(service, 'POST', '/api/v1/functions', { headers: bearer(writer), body });
    assert.equal(created.status, 201);
    assert.equal(created.body.user_id, 'carol');
  });
});

describe('authentication with RS256 and ES256 keys from a JWKS file and a JWKS URL', () => {
  let db: TestDatabase;
  let dir: string;
  let jwksServer: Server;
  const services: RunningService[] = [];
  type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const signers: { kid: string; alg: 'RS256' | 'ES256'; key: PrivateKey }[] = [];
  const jwks: { keys: JWK[] } = { keys: [] };

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'lm-jwks-'));
    for (const alg of ['RS256', 'ES256'] as const) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const kid = `${alg}-key`;
      jwks.keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
      signers.push({ kid, alg, key: privateKey });
    }
    await writeFile(join(dir, 'jwks.json'), JSON.stringify(jwks));
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    for (const s of services) await s.stop();
    jwksServer?.close();
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  async function sign(alg: 'RS256' | 'ES256', sub: string): Promise<string> {
    const signer = signers.find((s) => s.alg === alg);
    if (!signer) throw new Error(alg);
    return new SignJWT({ sub, scope: 'execute:all' }).setProtectedHeader({ alg, kid: signer.kid }).setExpirationTime('5m').sign(signer.key);
  }

  for (const source of ['file', 'url'] as const) {
    it(`verifies tokens through a JWKS ${source}`, async () => {
      const address = jwksServer.address();
      const env: Record<string, string> = source === 'file' ? { AUTH_JWKS_FILE: join(dir, 'jwks.json') } : { AUTH_JWKS_URL: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json` };
      const service = await startTestService({ DATABASE_URL: db.url, RATE_LIMIT_ENABLED: 'false', ...env });
      services.push(service);
      for (const alg of ['RS256', 'ES256'] as const) {
        const res = await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(await sign(alg, `user-${alg}`)), 'language-title': 'nodejs-jwks' }, body: { script_content: 'return 1;' } });
        assert.equal(res.status, 200, `${alg}: ${JSON.stringify(res.body)}`);
      }
      const hs = await hs256({ sub: 'x', scope: 'execute:all' });
      const refused = await call(service, 'POST', '/api/v1/initialize', { headers: { ...bearer(hs), 'language-title': 'nodejs-jwks' }, body: { script_content: 'return 1;' } });
      assert.equal(refused.status, 401, 'an HS256 token is refused where keys are asymmetric');
    });
  }
});

describe('rate limits', () => {
  let db: TestDatabase;
  const services: RunningService[] = [];
  after(async () => {
    for (const s of services) await s.stop();
    await db?.drop();
  });

  it('limit anonymous callers by address and users by subject, with 429, Retry-After and rate-limit headers', async () => {
    db = await createTestDatabase();
    const service = await startTestService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: SECRET,
      AUTH_ANONYMOUS_SCOPES: 'execute:nodejs read:functions',
      RATE_LIMIT_EXECUTE_ANONYMOUS_PER_MINUTE: '3',
      RATE_LIMIT_EXECUTE_PER_MINUTE: '5',
      RATE_LIMIT_FUNCTIONS_PER_MINUTE: '2',
    });
    services.push(service);
    const init = await initialize(service, 'nodejs-limited', { script_content: 'return 1;' });
    assert.equal(init.status, 200, 'anonymous callers hold AUTH_ANONYMOUS_SCOPES');
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof execute>> | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await execute(service, init.body.request_id, { i });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
      else assert.ok(res.headers['x-ratelimit-limit'], 'rate-limit headers on every limited route');
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.ok(limited);
    assert.equal(limited.body.error.code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal(limited.headers['x-ratelimit-remaining'], '0');

    const token = await hs256({ sub: 'dave', scope: 'execute:all' });
    const userStatuses: number[] = [];
    for (let i = 0; i < 6; i++) userStatuses.push((await execute(service, init.body.request_id, { i }, bearer(token))).status);
    assert.deepEqual(userStatuses, [200, 200, 200, 200, 200, 429], 'a user has their own, larger budget');

    const fnStatuses: number[] = [];
    for (let i = 0; i < 3; i++) fnStatuses.push((await call(service, 'GET', '/api/v1/functions')).status);
    assert.deepEqual(fnStatuses, [200, 200, 429]);
    for (let i = 0; i < 5; i++) assert.equal((await call(service, 'GET', '/health')).status, 200, '/health is never limited');
  });

  it('share counters between replicas through Redis', async () => {
    db ??= await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: SECRET,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `lmtest:${randomBytes(4).toString('hex')}:`,
      RATE_LIMIT_EXECUTE_PER_MINUTE: '4',
    };
    const a = await startTestService(env);
    const b = await startTestService(env);
    services.push(a, b);
    const token = await hs256({ sub: 'erin', scope: 'execute:all' });
    const init = await call(a, 'POST', '/api/v1/initialize', { headers: { ...bearer(token), 'language-title': 'nodejs-shared' }, body: { script_content: 'return 1;', context: { cache: false } } });
    assert.equal(init.status, 200);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await execute(a, init.body.request_id, {}, bearer(token))).status);
    for (let i = 0; i < 2; i++) statuses.push((await execute(b, init.body.request_id, {}, bearer(token))).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
  });
});

describe('CORS', () => {
  let db: TestDatabase;
  let service: RunningService;
  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, CORS_ORIGINS: 'https://console.example' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('answers a preflight from an allowed origin as the contract says', async () => {
    const res = await service.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/initialize',
      headers: { origin: 'https://console.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,language-title' },
    });
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://console.example');
    assert.equal(res.headers['access-control-allow-methods'], 'GET, POST, PATCH, DELETE, OPTIONS');
    assert.equal(res.headers['access-control-allow-headers'], 'Content-Type, Authorization, Language-Title, X-Request-ID, X-Cache-Control, traceparent, tracestate');
    assert.equal(res.headers['access-control-max-age'], '86400');
  });

  it('gives no CORS grant to another origin', async () => {
    const res = await service.app.inject({ method: 'GET', url: '/health', headers: { origin: 'https://evil.example' } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });
});

describe('safe default and input limits', () => {
  it('refuses to listen beyond loopback without auth unless told to', () => {
    assert.throws(() => loadConfig({ HOST: '0.0.0.0' }), (e: unknown) => e instanceof ConfigError && /ALLOW_UNAUTHENTICATED_NETWORK/.test(e.message));
    assert.equal(loadConfig({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED_NETWORK: 'true' }).host, '0.0.0.0');
    assert.equal(loadConfig({ HOST: '0.0.0.0', AUTH_JWT_SECRET: SECRET }).host, '0.0.0.0');
    assert.equal(loadConfig({}).host, '127.0.0.1');
    assert.throws(() => loadConfig({ AUTH_JWT_SECRET: SECRET, AUTH_JWKS_FILE: '/x' }), ConfigError);
  });

  let db: TestDatabase;
  let service: RunningService;
  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, MAX_PARAMS_BYTES: '1024', MAX_JSON_DEPTH: '8' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('bounds the depth and size of params and context', async () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
    const init = await initialize(service, 'nodejs-limits', { script_content: 'return 1;' });
    assert.equal((await execute(service, init.body.request_id, deep(4))).status, 200);
    const tooDeep = await execute(service, init.body.request_id, deep(20));
    assert.equal(tooDeep.status, 400);
    assert.match(tooDeep.body.error.message, /deeper/);
    const tooBig = await execute(service, init.body.request_id, { s: 'x'.repeat(2000) });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body.error.code, 'INVALID_REQUEST');
    const deepContext = await initialize(service, 'nodejs-limits', { script_content: 'return 1;', context: deep(20) });
    assert.equal(deepContext.status, 400);
  });
});
