import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import type { TestDatabase } from '../helpers/postgres.js';
import { call, execute, initialize, onScratchService } from '../helpers/service.js';

describe('functions catalog and operations routes (real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  onScratchService({}, (started) => ({ db, service } = started));

  it('lists the three shipped functions', async () => {
    const res = await call(service, 'GET', '/api/v1/functions');
    assert.equal(res.status, 200);
    assert.equal(res.body.total, 3);
    assert.equal(res.body.page, 1);
    assert.equal(res.body.per_page, 20);
    const titles = res.body.functions.map((f: { language_title: string }) => f.language_title);
    assert.deepEqual(titles, ['nodejs-calculator', 'python-text_processor', 'rust-data_validator']);
    for (const f of res.body.functions) {
      assert.equal(f.type, 'predefined');
      assert.equal(typeof f.description, 'string');
      assert.ok(Date.parse(f.created_at));
    }
  });

  it('filters by language and type, and pages', async () => {
    const python = await call(service, 'GET', '/api/v1/functions?language=python');
    assert.deepEqual(python.body.functions.map((f: { title: string }) => f.title), ['text_processor']);
    const dynamic = await call(service, 'GET', '/api/v1/functions?type=dynamic');
    assert.equal(dynamic.body.total, 0);
    const page2 = await call(service, 'GET', '/api/v1/functions?per_page=2&page=2');
    assert.equal(page2.body.total, 3);
    assert.equal(page2.body.functions.length, 1);
    assert.equal(page2.body.functions[0].language_title, 'rust-data_validator');
  });

  it('refuses bad list parameters', async () => {
    for (const query of ['per_page=101', 'per_page=0', 'page=-1', 'page=abc', 'type=other']) {
      const res = await call(service, 'GET', `/api/v1/functions?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, 'INVALID_REQUEST');
    }
  });

  it('shows a function with its schema and examples', async () => {
    const res = await call(service, 'GET', '/api/v1/functions/nodejs-calculator');
    assert.equal(res.status, 200);
    assert.equal(res.body.language, 'nodejs');
    assert.equal(res.body.title, 'calculator');
    assert.deepEqual(res.body.schema.params.required, ['a', 'b']);
    assert.ok(res.body.examples.length >= 1);
    assert.equal(res.body.script_content, undefined, 'predefined scripts are not shown');
    assert.equal((await call(service, 'GET', '/api/v1/functions/nodejs-unknown')).status, 404);
  });

  it('registers a dynamic function, with a schema that execute enforces', async () => {
    const body = {
      language_title: 'nodejs-greeter',
      description: 'Greets',
      script_content: 'module.exports = async (event) => `hello ${event.params.name}`;',
      schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } },
      examples: [{ params: { name: 'Ada' }, result: 'hello Ada' }],
      tags: ['demo'],
    };
    const created = await call(service, 'POST', '/api/v1/functions', { body });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.type, 'dynamic');
    assert.equal(created.body.script_content, body.script_content);

    const conflict = await call(service, 'POST', '/api/v1/functions', { body });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.error.code, 'CONFLICT');

    const listed = await call(service, 'GET', '/api/v1/functions?type=dynamic');
    assert.equal(listed.body.total, 1);

    const init = await initialize(service, 'nodejs-greeter', {});
    assert.equal(init.status, 200);
    assert.equal((await execute(service, init.body.request_id, { name: 'Ada' })).body.result, 'hello Ada');
    const invalid = await execute(service, init.body.request_id, { name: '' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error.code, 'INVALID_PARAMS');
  });

  it('refuses a function whose script does not compile, or whose schema is not a schema', async () => {
    const broken = await call(service, 'POST', '/api/v1/functions', { body: { language_title: 'nodejs-broken', script_content: 'return (;' } });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error.code, 'COMPILATION_ERROR');
    const badSchema = await call(service, 'POST', '/api/v1/functions', {
      body: { language_title: 'nodejs-badschema', script_content: 'return 1;', schema: { params: { type: 'nonsense' } } },
    });
    assert.equal(badSchema.status, 400);
    assert.equal(badSchema.body.error.code, 'INVALID_REQUEST');
    const rows = await db.query('SELECT 1 FROM meta.functions WHERE language_title IN ($1, $2)', ['nodejs-broken', 'nodejs-badschema']);
    assert.equal(rows.length, 0);
  });

  it('GET /health reports every component without crashing on missing ones', async () => {
    const res = await call(service, 'GET', '/health');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
    assert.equal(typeof res.body.version, 'string');
    assert.equal(res.body.components.controller.status, 'up');
    assert.equal(res.body.components.postgres.status, 'up');
    assert.equal(res.body.components.postgres.mode, 'external');
    assert.equal(res.body.components.redis.status, 'up');
    assert.equal(res.body.components.redis.kind, 'memory');
    assert.equal(res.body.components.runtimes.nodejs.status, 'up');
    assert.equal(res.body.components.runtimes.python.status, 'up');
    // Each language is a pool of runtime processes; each endpoint reports its runtime and its process.
    const python = res.body.components.runtimes.python.endpoints[0];
    assert.equal(python.status, 'up');
    assert.equal(python.details.sandbox, 'bubblewrap');
    for (const field of ['workers', 'busy', 'restarts', 'poolSize', 'rss_bytes']) assert.equal(typeof python.details[field], 'number', field);
    assert.equal(res.body.components.runtimes.rust.status, 'up');
  });

  it('GET /metrics exposes request counts, latency, errors, executions and sessions', async () => {
    const init = await initialize(service, 'nodejs-metrics', { script_content: 'return 1;' });
    await execute(service, init.body.request_id, {});
    await execute(service, 'not-a-uuid', {});
    const res = await service.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/plain/);
    const text = res.body;
    assert.match(text, /lambda_http_requests_total\{method="POST",route="\/api\/v1\/execute\/:requestId",status="200"\} \d+/);
    assert.match(text, /lambda_http_request_duration_seconds_bucket\{le="0.005",method="POST",route="\/api\/v1\/initialize"\}/);
    assert.match(text, /lambda_errors_total\{code="INVALID_REQUEST"\} \d+/);
    assert.match(text, /lambda_executions_total\{language="nodejs",outcome="ok"\} \d+/);
    assert.match(text, /lambda_runtime_execution_seconds_count\{language="nodejs"\} \d+/);
    assert.match(text, /lambda_sessions_created_total\{language="nodejs"\} \d+/);
    assert.match(text, /lambda_active_sessions \d+/);
  });
});
