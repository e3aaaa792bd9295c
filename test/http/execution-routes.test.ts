import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('initialize and execute (routes, real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, RUNTIME_TIMEOUT_SECONDS: '2', MAX_SCRIPT_SIZE: '4096' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  async function countSessions(): Promise<number> {
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM meta.sessions');
    return Number(rows[0]?.n);
  }

  it('runs timers in a runtime process: the callback form with setTimeout, and an awaited one', async () => {
    const callback = await initialize(service, 'nodejs-timer-callback', { script_content: 'module.exports = (event, callback) => { setTimeout(() => callback(null, event.params.n * 2), 5); };' });
    assert.equal(callback.status, 200, JSON.stringify(callback.body));
    assert.equal((await execute(service, callback.body.request_id as string, { n: 21 })).body.result, 42);
    const awaited = await initialize(service, 'nodejs-timer-await', { script_content: 'await new Promise((r) => setTimeout(r, 20));\nreturn "waited";', context: { cache: false } });
    const run = await execute(service, awaited.body.request_id as string, {});
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.result, 'waited');
  });

  it('runs the README flow: initialize, then execute with params', async () => {
    const init = await initialize(service, 'nodejs-calculator', {
      context: { env: 'production' },
      script_content: 'return event.params.a + event.params.b;',
    });
    assert.equal(init.status, 200);
    assert.match(init.body.request_id, UUID);
    assert.equal(init.body.status, 'initialized');
    assert.ok(Date.parse(init.body.expires_at) > Date.now());

    const run = await execute(service, init.body.request_id, { a: 10, b: 5 });
    assert.equal(run.status, 200);
    assert.equal(run.body.result, 15);
    assert.equal(run.body.request_id, init.body.request_id);
    assert.equal(run.body.language_title, 'nodejs-calculator');
    assert.equal(run.body.cached, false);
    assert.equal(typeof run.body.execution_time_ms, 'number');
    assert.equal(run.body.execution_time, run.body.execution_time_ms);
    assert.ok(Array.isArray(run.body.logs));

    const again = await execute(service, init.body.request_id, { a: 1, b: 2 });
    assert.equal(again.body.result, 3);
  });

  it('accepts the js- regex mapping and every Node.js script form', async () => {
    const forms: [string, string][] = [
      ['js-body', 'const s = await Promise.resolve(event.params.a + event.params.b); return s;'],
      ['nodejs-exports', 'module.exports = async (event) => event.params.a * event.params.b;'],
      ['nodejs-handler', 'exports.handler = async (event) => ({ sum: event.params.a + event.params.b });'],
      ['nodejs-callback', 'module.exports = (event, callback) => callback(null, event.params.a - event.params.b);'],
    ];
    const expected = [7, 12, { sum: 7 }, -1];
    for (const [i, [title, script]] of forms.entries()) {
      const init = await initialize(service, title, { script_content: script });
      assert.equal(init.status, 200, `${title}: ${JSON.stringify(init.body)}`);
      const run = await execute(service, init.body.request_id, { a: 3, b: 4 });
      assert.equal(run.status, 200, `${title}: ${JSON.stringify(run.body)}`);
      assert.deepEqual(run.body.result, expected[i], title);
    }
  });

  it('captures console output into logs', async () => {
    const init = await initialize(service, 'nodejs-logger', { script_content: 'console.log("hello", event.params.n); console.error({ x: 1 }); return 1;' });
    const run = await execute(service, init.body.request_id, { n: 42 });
    assert.equal(run.status, 200);
    assert.equal(run.body.logs.length, 2);
    assert.match(run.body.logs[0], /hello 42/);
  });

  it('runs the shipped calculator without a script and validates its params', async () => {
    const init = await initialize(service, 'nodejs-calculator', {});
    assert.equal(init.status, 200);
    const ok = await execute(service, init.body.request_id, { operation: 'multiply', a: 6, b: 7 });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.result, 42);
    const bad = await execute(service, init.body.request_id, { a: 'six', b: 7 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_PARAMS');
    assert.equal(bad.body.request_id, init.body.request_id);
    assert.ok(bad.body.error.details.violations.some((v: { path: string }) => v.path === '/a'));
    const division = await execute(service, init.body.request_id, { operation: 'divide', a: 1, b: 0 });
    assert.equal(division.status, 500);
    assert.equal(division.body.error.code, 'RUNTIME_ERROR');
    assert.match(division.body.error.message, /Division by zero/);
  });

  it('answers 404 for a Language-Title with no script and no registered function', async () => {
    const res = await initialize(service, 'nodejs-nothing_registered', {});
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'NOT_FOUND');
  });

  it('reports a syntax error at initialize with line and column, and keeps the failed session', async () => {
    const res = await initialize(service, 'nodejs-broken', { script_content: 'const a = 1;\nreturn a +;\n' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'COMPILATION_ERROR');
    assert.equal(res.body.error.details.line, 2);
    assert.equal(typeof res.body.error.details.column, 'number');
    const id = res.body.error.details.request_id as string;
    const rows = await db.query<{ status: string; compile_status: string; compile_error: string }>(
      'SELECT status, compile_status, compile_error FROM meta.sessions WHERE request_id = $1',
      [id],
    );
    assert.equal(rows[0]?.status, 'error');
    assert.equal(rows[0]?.compile_status, 'failed');
    assert.match(rows[0]?.compile_error ?? '', /SyntaxError/);
    const run = await execute(service, id, {});
    assert.equal(run.status, 404);
  });

  it('reports a thrown error as RUNTIME_ERROR with line, column and stack', async () => {
    const init = await initialize(service, 'nodejs-thrower', { script_content: 'const x = 1;\nthrow new Error("kaput " + x);' });
    const run = await execute(service, init.body.request_id, {});
    assert.equal(run.status, 500);
    assert.equal(run.body.error.code, 'RUNTIME_ERROR');
    assert.equal(run.body.request_id, init.body.request_id);
    assert.match(run.body.error.message, /kaput 1/);
    assert.equal(run.body.error.details.line, 2);
    assert.equal(typeof run.body.error.details.stack, 'string');
  });

  it('stops an infinite loop with 504 TIMEOUT within the limit and keeps serving', async () => {
    const loop = await initialize(service, 'nodejs-loop', { context: { timeout_ms: 300 }, script_content: 'for(;;){}' });
    const started = Date.now();
    const run = await execute(service, loop.body.request_id, {});
    assert.equal(run.status, 504);
    assert.equal(run.body.error.code, 'TIMEOUT');
    assert.ok(Date.now() - started < 2000, 'answered well within the cap');
    const fine = await initialize(service, 'nodejs-after', { script_content: 'return 1;' });
    assert.equal((await execute(service, fine.body.request_id, {})).body.result, 1);
  });

  it('caps context.timeout_ms at RUNTIME_TIMEOUT_SECONDS', async () => {
    const loop = await initialize(service, 'nodejs-loop2', { context: { timeout_ms: 600000 }, script_content: 'for(;;){}' });
    const run = await execute(service, loop.body.request_id, {});
    assert.equal(run.status, 504);
    assert.equal(run.body.error.details.timeout_ms, 2000);
  });

  it('answers a memory bomb with a clear memory error', async () => {
    const bomb = await initialize(service, 'nodejs-bomb', { script_content: 'const a = []; for(;;) a.push(new Array(100000).fill(1));' });
    const run = await execute(service, bomb.body.request_id, {});
    assert.equal(run.status, 500);
    assert.equal(run.body.error.code, 'RUNTIME_ERROR');
    assert.equal(run.body.error.details.reason, 'memory_limit');
    assert.match(run.body.error.message, /memory/i);
  });

  it('rejects a non-JSON result clearly', async () => {
    const init = await initialize(service, 'nodejs-bigint', { script_content: 'return 10n;' });
    const run = await execute(service, init.body.request_id, {});
    assert.equal(run.status, 500);
    assert.match(run.body.error.message, /JSON/);
  });

  describe('bad input gets the error envelope and stores nothing', () => {
    const cases: [string, () => ReturnType<typeof call>, number][] = [
      ['missing Language-Title', () => call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return 1;' } }), 400],
      ['malformed Language-Title', () => initialize(service, 'no spaces allowed', { script_content: 'return 1;' }), 400],
      ['unknown language', () => initialize(service, 'cobol-payroll', { script_content: 'return 1;' }), 400],
      ['malformed JSON', () => call(service, 'POST', '/api/v1/initialize', { rawBody: '{"script_content":', headers: { 'content-type': 'application/json', 'language-title': 'nodejs-x' } }), 400],
      ['wrong content type', () => call(service, 'POST', '/api/v1/initialize', { rawBody: 'return 1;', headers: { 'content-type': 'text/plain', 'language-title': 'nodejs-x' } }), 400],
      ['body is not an object', () => initialize(service, 'nodejs-x', [1, 2]), 400],
      ['script_content not a string', () => initialize(service, 'nodejs-x', { script_content: 42 }), 400],
      ['context not an object', () => initialize(service, 'nodejs-x', { script_content: 'return 1;', context: 'x' }), 400],
      ['bad timeout_ms', () => initialize(service, 'nodejs-x', { script_content: 'return 1;', context: { timeout_ms: -5 } }), 400],
      ['script over MAX_SCRIPT_SIZE', () => initialize(service, 'nodejs-x', { script_content: `return "${'x'.repeat(5000)}";` }), 413],
      ['body over the body limit', () => initialize(service, 'nodejs-x', { script_content: 'return 1;', context: { pad: 'y'.repeat(200_000) } }), 413],
      ['__proto__ in the body', () => call(service, 'POST', '/api/v1/initialize', { rawBody: '{"script_content":"return 1;","__proto__":{"x":1}}', headers: { 'content-type': 'application/json', 'language-title': 'nodejs-x' } }), 400],
    ];
    for (const [name, send, status] of cases) {
      it(name, async () => {
        const before = await countSessions();
        const res = await send();
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'INVALID_REQUEST');
        assert.equal(typeof res.body.error.message, 'string');
        assert.equal(typeof res.body.error.details, 'object');
        assert.equal(await countSessions(), before);
      });
    }
  });

  describe('Rust', () => {
    const ECHO = `use serde_json::{Map, Value};
pub fn handler(event: Map<String, Value>) -> Result<Value, String> {
    let p = event.get("params").and_then(|p| p.as_object()).ok_or("Missing params")?;
    Ok(serde_json::json!({ "echo": p }))
}`;

    it('compiles the issue\'s handler at initialize and executes it many times', async () => {
      const init = await initialize(service, 'rust-echo', { script_content: ECHO });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      for (let i = 0; i < 5; i++) {
        const run = await execute(service, init.body.request_id, { i, s: 'x' }, { 'x-cache-control': 'no-cache' });
        assert.equal(run.status, 200, JSON.stringify(run.body));
        assert.deepEqual(run.body.result, { echo: { i, s: 'x' } });
      }
      const stored = await db.query<{ compile_status: string; size: number }>(
        'SELECT compile_status, octet_length(compiled_artifact) AS size FROM meta.sessions WHERE request_id = $1',
        [init.body.request_id],
      );
      assert.equal(stored[0]?.compile_status, 'compiled');
      assert.ok((stored[0]?.size ?? 0) > 1000, 'the compiled module is kept with the session');
    });

    it('runs the shipped rust-data_validator without a script', async () => {
      const init = await initialize(service, 'rust-data_validator', {});
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const run = await execute(service, init.body.request_id, { data: { age: '42', name: '' }, rules: { age: ['required', 'numeric'], name: ['required'] } });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.deepEqual(run.body.result, { valid: false, errors: ['name is required'] });
    });

    it('reports compile errors with the compiler diagnostics and marks the session failed', async () => {
      const res = await initialize(service, 'rust-broken', { script_content: 'pub fn handler(event: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value, String> {\n    let x: u32 = "no";\n    Ok(serde_json::json!(x))\n}' });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'COMPILATION_ERROR');
      assert.equal(res.body.error.details.line, 2);
      assert.match(res.body.error.details.diagnostics, /mismatched types/);
      const rows = await db.query<{ compile_status: string; compile_error: string }>('SELECT compile_status, compile_error FROM meta.sessions WHERE request_id = $1', [res.body.error.details.request_id]);
      assert.equal(rows[0]?.compile_status, 'failed');
      assert.match(rows[0]?.compile_error ?? '', /mismatched types/);
    });

    it('refuses unknown compile options', async () => {
      const res = await initialize(service, 'rust-options', { script_content: ECHO, context: { compile_options: { optimization_level: 'turbo' } } });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'COMPILATION_ERROR');
    });
  });

  describe('Python', () => {
    it('runs python-textprocessor: initialize once, execute many times with different params', async () => {
      const init = await initialize(service, 'python-textprocessor', { script_content: 'result = len(params["text"].split())' });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      assert.match(init.body.request_id, UUID);
      const texts = ['hello big world', 'one', '', 'a b c d e f g'];
      for (const text of texts) {
        const run = await execute(service, init.body.request_id, { text });
        assert.equal(run.status, 200, JSON.stringify(run.body));
        assert.equal(run.body.result, text.split(/\s+/).filter(Boolean).length);
        assert.equal(run.body.language_title, 'python-textprocessor');
        assert.equal(typeof run.body.execution_time_ms, 'number');
        assert.equal(typeof run.body.memory_usage_bytes, 'number');
      }
    });

    it('runs the def handle(params) and def handler(event) forms, with print() in logs', async () => {
      const forms: [string, string, unknown][] = [
        ['python-handle', 'def handle(params):\n    print("counting", params["text"])\n    return len(params["text"].split())', 2],
        ['python-handler', 'def handler(event):\n    return {"words": len(event["params"]["text"].split()), "id": event["request_id"]}', undefined],
      ];
      for (const [title, script, expected] of forms) {
        const init = await initialize(service, title, { script_content: script });
        assert.equal(init.status, 200, JSON.stringify(init.body));
        const run = await execute(service, init.body.request_id, { text: 'two words' });
        assert.equal(run.status, 200, JSON.stringify(run.body));
        if (expected !== undefined) {
          assert.equal(run.body.result, expected);
          assert.deepEqual(run.body.logs, ['counting two words']);
        } else {
          assert.deepEqual(run.body.result, { words: 2, id: init.body.request_id });
        }
      }
    });

    it('runs the shipped python-text_processor without a script and validates its params', async () => {
      const init = await initialize(service, 'python-text_processor', {});
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const count = await execute(service, init.body.request_id, { text: 'hello big world' });
      assert.equal(count.status, 200, JSON.stringify(count.body));
      assert.equal(count.body.result, 3);
      const upper = await execute(service, init.body.request_id, { operation: 'uppercase', text: 'hello' });
      assert.equal(upper.body.result, 'HELLO');
      const chars = await execute(service, init.body.request_id, { operation: 'count_chars', text: 'héllo' });
      assert.equal(chars.body.result, 5);
      const bad = await execute(service, init.body.request_id, { operation: 'reverse', text: 'x' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'INVALID_PARAMS');
      const missing = await execute(service, init.body.request_id, {});
      assert.equal(missing.status, 400);
    });

    it('reports a Python syntax error at initialize with its line', async () => {
      const res = await initialize(service, 'python-broken', { script_content: 'x = 1\ny = = 2\n' });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'COMPILATION_ERROR');
      assert.equal(res.body.error.details.line, 2);
      assert.match(res.body.error.message, /SyntaxError|invalid syntax/);
    });

    it('reports an exception as RUNTIME_ERROR with type, line and the user frames only', async () => {
      const init = await initialize(service, 'python-thrower', { script_content: 'def handle(params):\n    return 1 / params["n"]' });
      const run = await execute(service, init.body.request_id, { n: 0 });
      assert.equal(run.status, 500);
      assert.equal(run.body.error.code, 'RUNTIME_ERROR');
      assert.equal(run.body.error.details.name, 'ZeroDivisionError');
      assert.equal(run.body.error.details.line, 2);
      assert.match(run.body.error.details.stack, /File "script\.py", line 2, in handle/);
      assert.doesNotMatch(run.body.error.details.stack, /worker\.py/);
      assert.equal((await execute(service, init.body.request_id, { n: 4 })).body.result, 0.25);
    });

    it('stops a Python infinite loop with 504 and keeps serving', async () => {
      const loop = await initialize(service, 'python-loop', { context: { timeout_ms: 300 }, script_content: 'while True:\n    pass' });
      const started = Date.now();
      const run = await execute(service, loop.body.request_id, {});
      assert.equal(run.status, 504);
      assert.equal(run.body.error.code, 'TIMEOUT');
      assert.ok(Date.now() - started < 2000);
      const again = await execute(service, loop.body.request_id, {});
      assert.equal(again.status, 504, 'the session keeps working after its worker was replaced');
    });

    it('answers a Python memory bomb with a clear memory error', async () => {
      const bomb = await initialize(service, 'python-bomb', { script_content: 'hoard = []\nwhile True:\n    hoard.append(bytearray(10 ** 7))' });
      const run = await execute(service, bomb.body.request_id, {});
      assert.equal(run.status, 500);
      assert.equal(run.body.error.details.reason, 'memory_limit');
      assert.match(run.body.error.message, /memory limit/);
    });

    it('rejects a non-JSON Python result clearly', async () => {
      const init = await initialize(service, 'python-set', { script_content: 'result = {1, 2}' });
      const run = await execute(service, init.body.request_id, {});
      assert.equal(run.status, 500);
      assert.match(run.body.error.message, /not JSON-serialisable/);
    });

    it('ends the worker of a deleted session', async () => {
      const noCache = { 'x-cache-control': 'no-cache' };
      const init = await initialize(service, 'python-state', { script_content: 'n = 0\ndef handle(params):\n    global n\n    n += 1\n    return n' });
      assert.equal((await execute(service, init.body.request_id, {}, noCache)).body.result, 1);
      assert.equal((await execute(service, init.body.request_id, {}, noCache)).body.result, 2);
      const other = await initialize(service, 'python-state', { script_content: 'n = 0\ndef handle(params):\n    global n\n    n += 1\n    return n' });
      assert.equal((await execute(service, other.body.request_id, {}, noCache)).body.result, 1, 'sessions never share state');
      const deleted = await call(service, 'DELETE', `/api/v1/sessions/${init.body.request_id}`);
      assert.ok(deleted.status === 200 || deleted.status === 204, String(deleted.status));
      assert.equal((await execute(service, init.body.request_id, {})).status, 404);
    });
  });

  it('validates execute ids and bodies', async () => {
    const badId = await execute(service, 'not-a-uuid', {});
    assert.equal(badId.status, 400);
    assert.equal(badId.body.error.code, 'INVALID_REQUEST');
    const unknown = await execute(service, '00000000-0000-4000-8000-000000000000', {});
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'NOT_FOUND');
    const init = await initialize(service, 'nodejs-echo', { script_content: 'return event.params;' });
    const notObject = await call(service, 'POST', `/api/v1/execute/${init.body.request_id}`, { body: 'just a string' });
    assert.equal(notObject.status, 400);
    const noBody = await call(service, 'POST', `/api/v1/execute/${init.body.request_id}`);
    assert.equal(noBody.status, 200);
    assert.deepEqual(noBody.body.result, {});
  });

  it('honours and echoes X-Request-ID, and makes one when absent', async () => {
    const own = await call(service, 'GET', '/health', { headers: { 'x-request-id': 'client-abc.123' } });
    assert.equal(own.headers['x-request-id'], 'client-abc.123');
    const made = await call(service, 'GET', '/health');
    assert.match(String(made.headers['x-request-id']), UUID);
    const hostile = await call(service, 'GET', '/health', { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(String(hostile.headers['x-request-id']), UUID);
  });

  it('answers unknown routes with the envelope', async () => {
    const res = await call(service, 'GET', '/api/v1/nope');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'NOT_FOUND');
  });
});
