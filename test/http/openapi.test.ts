/**
 * The described API: GET /api/v1/openapi.json is a valid OpenAPI 3.1 document (checked by a real
 * validator) covering every route with its headers, security and error envelope; /docs serves an
 * interactive reference from the service itself (no CDN); GET / says where things are. Schema
 * failures answer the contract's envelope with every violation. (Every answer the HTTP tests
 * receive is also checked against the document: test/helpers/openapi.ts.)
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';

import type { RunningService } from '../../src/main/service.js';
import { call, initialize, onScratchService } from '../helpers/service.js';

type Json = Record<string, any>;

describe('the OpenAPI document and the docs', () => {
  let service: RunningService;
  let document: Json;

  // With auth on: the document, the docs and the index must still answer without a token.
  onScratchService({ AUTH_JWT_SECRET: 'openapi-test-secret-with-enough-bytes', RATE_LIMIT_ENABLED: 'false' }, (started) => ({ service } = started));
  before(async () => {
    const res = await call(service, 'GET', '/api/v1/openapi.json');
    assert.equal(res.status, 200);
    document = res.body;
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(document.openapi, '3.1.0');
    const verdict = await new Validator().validate(structuredClone(document));
    assert.equal(verdict.valid, true, JSON.stringify(verdict.errors, null, 2)?.slice(0, 3000));
  });

  it('covers every route of the API, and leaves out the docs themselves', () => {
    const operations = Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    assert.deepEqual(operations.sort(), [
      'DELETE /api/v1/functions/{languageTitle}',
      'DELETE /api/v1/sessions/{requestId}',
      'GET /api/v1/functions',
      'GET /api/v1/functions/{languageTitle}',
      'GET /api/v1/functions/{languageTitle}/stats',
      'GET /api/v1/runtimes',
      'GET /api/v1/sessions',
      'GET /api/v1/sessions/{requestId}',
      'GET /api/v1/sessions/{requestId}/executions',
      'GET /health',
      'GET /metrics',
      'PATCH /api/v1/functions/{languageTitle}',
      'PATCH /api/v1/sessions/{requestId}',
      'POST /api/v1/execute/{requestId}',
      'POST /api/v1/functions',
      'POST /api/v1/initialize',
    ]);
  });

  it('describes the headers, the bearer scheme and its scopes, and the error envelope on every error', () => {
    const initialize = document.paths['/api/v1/initialize'].post;
    const execute = document.paths['/api/v1/execute/{requestId}'].post;
    const headerNames = (op: Json) => (op.parameters as Json[]).map((p) => (p.$ref ? 'X-Request-ID' : `${p.in}:${String(p.name).toLowerCase()}`));
    assert.ok(headerNames(initialize).includes('header:language-title'));
    assert.equal((initialize.parameters as Json[]).find((p) => p.name === 'language-title')?.required, true);
    assert.ok(headerNames(execute).includes('header:x-cache-control'));
    assert.ok(headerNames(execute).includes('path:requestid'));
    assert.ok(headerNames(execute).includes('X-Request-ID'));
    assert.equal(document.components.parameters.XRequestId.name, 'X-Request-ID');
    assert.equal(document.components.securitySchemes.bearer.scheme, 'bearer');
    assert.match(document.info.description, /execute:all.*read:functions.*write:functions/s);
    assert.deepEqual(document.security, [{ bearer: [] }]);
    assert.deepEqual(document.paths['/health'].get.security, []);
    assert.ok(document.components.schemas.ErrorEnvelope);
    for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
          if (Number(status) < 400 || path === '/health') continue;
          assert.equal(response.content?.['application/json']?.schema?.$ref, '#/components/schemas/ErrorEnvelope', `${method} ${path} ${status}`);
          assert.ok(response.headers?.['X-Request-ID'], `${method} ${path} ${status} answers X-Request-ID`);
        }
      }
    }
    assert.deepEqual(Object.keys(execute.responses).sort(), ['200', '400', '401', '403', '404', '413', '429', '500', '503', '504']);
  });

  it('gives examples a reader can start from', () => {
    // One example is the media type's `example`; several would be its `examples`.
    const example = (path: string) => document.paths[path].post.requestBody.content['application/json'].example as Json;
    assert.deepEqual(example('/api/v1/initialize').context, { timeout_ms: 5000 });
    assert.deepEqual(example('/api/v1/execute/{requestId}').params, { a: 5, b: 10 });
    assert.equal(example('/api/v1/functions').language_title, 'nodejs-double');
  });

  it('serves /docs and its assets from the service, without a token', async () => {
    const page = await service.app.inject({ method: 'GET', url: '/docs' });
    const html = page.statusCode === 302 ? await service.app.inject({ method: 'GET', url: String(page.headers.location).replace(/^\.\//, '/docs/') }) : page;
    assert.equal(html.statusCode, 200, html.body.slice(0, 200));
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.doesNotMatch(html.body, /https?:\/\/(cdn|unpkg|cdnjs|jsdelivr)/, 'no asset from a CDN');
    const assets = [...html.body.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1] as string);
    assert.ok(assets.length >= 2, html.body.slice(0, 500));
    for (const asset of assets) {
      const url = asset.startsWith('docs/') || asset.startsWith('/') ? `/${asset.replace(/^\//, '')}` : `/docs/${asset}`;
      const res = await service.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
    }
  });

  it('GET / says where the docs, the document and health are; the rest still wants a token', async () => {
    const index = await call(service, 'GET', '/');
    assert.equal(index.status, 200);
    assert.deepEqual(index.body, { name: 'Lambda Microservice', console: '/', docs: '/docs', openapi: '/api/v1/openapi.json', health: '/health', metrics: '/metrics' });
    const refused = await call(service, 'GET', '/api/v1/functions');
    assert.equal(refused.status, 401);
  });
});

describe('schema failures', () => {
  let service: RunningService;
  onScratchService({}, (started) => ({ service } = started));

  it('answer INVALID_REQUEST naming the field, with every violation in details', async () => {
    const res = await initialize(service, 'nodejs-calculator', { script_content: 5, context: { timeout_ms: 'soon', retain_session: 'yes' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_REQUEST');
    const violations = res.body.error.details.violations as Json[];
    assert.deepEqual(violations.map((v) => String(v.field)).sort(), ['context.retain_session', 'context.timeout_ms', 'script_content']);
    assert.match(res.body.error.message, /^"(script_content|context\.timeout_ms|context\.retain_session)" must be/);
    assert.equal(res.body.error.details.field, violations[0]?.field);
  });

  it('check bodies as sent: a number in a string is refused, not converted', async () => {
    const res = await initialize(service, 'nodejs-calculator', { context: { timeout_ms: '100' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.details.field, 'context.timeout_ms');
  });

  it('name a missing header as people write it', async () => {
    const res = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return 1;' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.message, 'the Language-Title header is required');
    assert.equal(res.body.error.details.header, 'Language-Title');
  });

  it('refuse a body that is not an object, and accept an execute with no body at all', async () => {
    const array = await call(service, 'POST', '/api/v1/initialize', { rawBody: '[1,2]', headers: { 'content-type': 'application/json', 'language-title': 'nodejs-calculator' } });
    assert.equal(array.status, 400);
    assert.equal(array.body.error.message, 'The body must be a JSON object');
    const init = await initialize(service, 'nodejs-echo', { script_content: 'return event.params;' });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const bare = await call(service, 'POST', `/api/v1/execute/${init.body.request_id}`);
    assert.equal(bare.status, 200, JSON.stringify(bare.body));
    assert.deepEqual(bare.body.result, {});
  });
});
