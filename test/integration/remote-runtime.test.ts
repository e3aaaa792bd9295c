import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { projectPath } from '../../src/config/paths.js';
import { remoteAddress } from '../../src/main/runtimes.js';
import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { freePort } from '../helpers/scratch-services.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

/** The runtime server entry point as its own process; resolves with its address. */
function startRuntimeServer(language: string, port: number): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ['--no-node-snapshot', '--import', 'tsx', projectPath('src/main/runtime-server-main.ts'), '--language', language, '--port', String(port)], {
    cwd: projectPath(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runtime server did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /runtime listening on (\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, address: match[1] });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`runtime server exited ${code}:\n${output}`)));
  });
}

describe('the Node.js runtime as its own gRPC service (NODEJS_RUNTIME_URL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let runtime: { child: ChildProcess; address: string };
  let port: number;

  before(async () => {
    port = await freePort();
    runtime = await startRuntimeServer('nodejs', port);
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, NODEJS_RUNTIME_URL: runtime.address });
  });
  after(async () => {
    await service?.stop();
    runtime?.child.kill('SIGKILL');
    await db?.drop();
  });

  it('runs the README flow through the remote runtime, and a restarted runtime gets the script again', async () => {
    const health = await call(service, 'GET', '/health');
    assert.equal(health.body.components.runtimes.nodejs.status, 'up');
    assert.equal(health.body.components.runtimes.nodejs.address, runtime.address);
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
    runtime.child.kill('SIGKILL');
    const down = await execute(service, init.body.request_id, { a: 1, b: 1 }, { 'x-cache-control': 'no-cache' });
    assert.equal(down.status, 503, 'a dead runtime is a clear 503, not a hang');
    assert.equal(down.body.error.code, 'RUNTIME_UNAVAILABLE');

    runtime = await startRuntimeServer('nodejs', port);
    let again = await execute(service, init.body.request_id, { a: 2, b: 2 }, { 'x-cache-control': 'no-cache' });
    for (let i = 0; i < 50 && again.status === 503; i++) {
      // The client reconnects with backoff; the first calls after the restart may still find it away.
      await new Promise((r) => setTimeout(r, 100));
      again = await execute(service, init.body.request_id, { a: 2, b: 2 }, { 'x-cache-control': 'no-cache' });
    }
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.result, 4, 'the new runtime process was sent the script again');
  });

  it('refuses a list of endpoints until routing across them exists', () => {
    assert.equal(remoteAddress(loadConfig({ NODEJS_RUNTIME_URL: 'grpc://10.0.0.1:50051' }), 'nodejs'), '10.0.0.1:50051');
    assert.equal(remoteAddress(loadConfig({}), 'nodejs'), undefined);
    assert.throws(() => remoteAddress(loadConfig({ PYTHON_RUNTIME_URL: 'a:1,b:2' }), 'python'), (e: unknown) => e instanceof ConfigError && /issue #7/.test(e.message));
  });
});
