import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startRuntimeProcess, type RuntimeProcess } from '../helpers/process.js';
import { freePort } from '../helpers/scratch-services.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

describe('the Node.js runtime as its own gRPC service (NODEJS_RUNTIME_URL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let runtime: RuntimeProcess;
  let port: number;

  before(async () => {
    port = await freePort();
    runtime = await startRuntimeProcess('nodejs', port);
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, NODEJS_RUNTIME_URL: runtime.address });
  });
  after(async () => {
    await service?.stop();
    await runtime?.stop();
    await db?.drop();
  });

  it('runs the README flow through the remote runtime, and a restarted runtime gets the script again', async () => {
    const health = await call(service, 'GET', '/health');
    assert.equal(health.body.components.runtimes.nodejs.status, 'up');
    assert.deepEqual(health.body.components.runtimes.nodejs.endpoints.map((e: { address: string }) => e.address), [runtime.address]);
    const init = await initialize(service, 'nodejs-calculator', { script_content: 'return event.params.a + event.params.b;' });
    assert.equal(init.status, 200);
    const run = await execute(service, init.body.request_id, { a: 10, b: 5 });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.result, 15);
    const thrown = await initialize(service, 'nodejs-thrower', { script_content: 'throw new Error("remote boom");' });
    const failed = await execute(service, thrown.body.request_id, {});
    assert.equal(failed.status, 500);
    assert.match(failed.body.error.message, /remote boom/);

    // A new runtime process knows no scripts: the controller sends the script again (not_prepared).
    await runtime.stop();
    const down = await execute(service, init.body.request_id, { a: 1, b: 1 }, { 'x-cache-control': 'no-cache' });
    assert.equal(down.status, 503, 'a dead runtime is a clear 503, not a hang');
    assert.equal(down.body.error.code, 'RUNTIME_UNAVAILABLE');
    // Whether that call got as far as the runtime depends on how the connection broke; once the
    // endpoint is ejected a call reaches no runtime at all, and its 503 says when to send it again.
    const ejected = await execute(service, init.body.request_id, { a: 1, b: 1 }, { 'x-cache-control': 'no-cache' });
    assert.equal(ejected.status, 503, JSON.stringify(ejected.body));
    assert.equal(ejected.headers['retry-after'], '1', 'the call reached no runtime: it may be sent again as it is');

    runtime = await startRuntimeProcess('nodejs', port);
    // The client reconnects with backoff; the first calls after the restart may still find it away.
    let again = await execute(service, init.body.request_id, { a: 2, b: 2 }, { 'x-cache-control': 'no-cache' });
    await waitFor('an execute to reach the restarted runtime', async () => {
      if (again.status !== 503) return true;
      again = await execute(service, init.body.request_id, { a: 2, b: 2 }, { 'x-cache-control': 'no-cache' });
      return again.status !== 503;
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.result, 4, 'the new runtime process was sent the script again');
  });

  it('reads endpoint lists, and refuses what is not host:port', () => {
    assert.deepEqual(loadConfig({ NODEJS_RUNTIME_URL: 'grpc://10.0.0.1:50051' }).runtimeUrls.nodejs, ['10.0.0.1:50051']);
    assert.deepEqual(loadConfig({}).runtimeUrls.nodejs, []);
    assert.deepEqual(loadConfig({ PYTHON_RUNTIME_URL: 'a:1, b.example:2,a:1,[::1]:3' }).runtimeUrls.python, ['a:1', 'b.example:2', '[::1]:3']);
    assert.throws(() => loadConfig({ RUST_RUNTIME_URL: 'a:1,http://b/' }), (e: unknown) => e instanceof ConfigError && /RUST_RUNTIME_URL/.test(e.message));
    assert.throws(() => loadConfig({ RUNTIME_SELECTION_STRATEGY: 'random' }), (e: unknown) => e instanceof ConfigError && /least-outstanding, round-robin/.test(e.message));
    assert.throws(
      () => loadConfig({ RUNTIME_DISCOVERY: 'kubernetes', NODEJS_RUNTIME_URL: 'a:1' }),
      (e: unknown) => e instanceof ConfigError && /unset NODEJS_RUNTIME_URL/.test(e.message),
    );
  });
});
