/**
 * How the service serves the console (src/http/console-routes.ts), in-process on a bare Fastify
 * app: `GET /` by content negotiation, the page with a fresh CSP nonce per answer, hashed assets
 * cached for good and confined to their folder, and a clear error when the build is missing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';

import { API_INDEX } from '../../src/http/api-docs.js';
import { consoleContentSecurityPolicy, consoleRoutes, wantsConsole } from '../../src/http/console-routes.js';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

async function appServing(dir: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(consoleRoutes, { dir });
  await app.ready();
  return app;
}

describe('the console routes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lm-console-'));
  mkdirSync(join(dir, 'assets'));
  // As Vite writes it (web/vite.config.ts: html.cspNonce).
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><html><head><meta property="csp-nonce" nonce="LAMBDA_CSP_NONCE"><script type="module" src="/assets/app-1.js" nonce="LAMBDA_CSP_NONCE"></script></head><body></body></html>',
  );
  writeFileSync(join(dir, 'assets', 'app-1.js'), 'console.log(1);');
  writeFileSync(join(dir, 'secret.txt'), 'outside assets/');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers a browser the page, with a strict policy and a new nonce each time', async () => {
    const app = await appServing(dir);
    const nonces = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ method: 'GET', url: '/', headers: { accept: BROWSER_ACCEPT } });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      const csp = String(res.headers['content-security-policy']);
      const nonce = /'nonce-([^']+)'/.exec(csp)?.[1] ?? '';
      assert.ok(nonce.length >= 16, csp);
      assert.equal(csp, consoleContentSecurityPolicy(nonce));
      for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"]) {
        assert.ok(csp.includes(directive), `${directive} in ${csp}`);
      }
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.doesNotMatch(res.body, /LAMBDA_CSP_NONCE/);
      assert.equal(res.body.match(new RegExp(`nonce="${nonce.replace(/[+/=]/g, '\\$&')}"`, 'g'))?.length, 2);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.match(String(res.headers.vary), /Accept/);
      nonces.add(nonce);
    }
    assert.equal(nonces.size, 2);
    await app.close();
  });

  it('answers every other client the JSON index, as before the console', async () => {
    const app = await appServing(dir);
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html;q=0.5']) {
      const res = await app.inject({ method: 'GET', url: '/', headers: accept ? { accept } : {} });
      assert.equal(res.statusCode, 200, String(accept));
      assert.deepEqual(res.json(), API_INDEX);
    }
    await app.close();
  });

  it('serves the hashed assets for a year, and nothing outside assets/', async () => {
    const app = await appServing(dir);
    const asset = await app.inject({ method: 'GET', url: '/assets/app-1.js' });
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['content-type']), /javascript/);
    assert.match(String(asset.headers['cache-control']), /max-age=31536000.*immutable/);
    for (const url of ['/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/missing.js']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.doesNotMatch(res.body, /outside assets/);
    }
    await app.close();
  });

  it('says the console is not built, and how to build it, when dist/web is missing', async () => {
    const app = await appServing(join(dir, 'not-built'));
    const res = await app.inject({ method: 'GET', url: '/', headers: { accept: BROWSER_ACCEPT } });
    assert.equal(res.statusCode, 503);
    const body = res.json();
    assert.equal(body.error.code, 'SERVICE_UNAVAILABLE');
    assert.match(body.error.message, /not built.*npm run build/);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/' })).json(), API_INDEX);
    await app.close();
  });

  it('tells a browser from a JSON client by the Accept header', () => {
    assert.equal(wantsConsole(BROWSER_ACCEPT), true);
    assert.equal(wantsConsole('text/html'), true);
    assert.equal(wantsConsole(undefined), false);
    assert.equal(wantsConsole('*/*'), false);
    assert.equal(wantsConsole('application/json'), false);
    assert.equal(wantsConsole('text/html;q=0'), false);
    assert.equal(wantsConsole('application/json;q=1, text/html;q=0.9'), false);
  });
});
