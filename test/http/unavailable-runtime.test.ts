import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/main/service.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { newRustRuntime } from '../helpers/rust.js';
import { call, initialize } from '../helpers/service.js';

describe('a runtime that cannot run here answers 503 naming what is missing', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    // The real Rust runtime, pointed at a compiler that is not there; no Node.js runtime at all.
    const rust = newRustRuntime({ toolchainPaths: { rustc: '/nonexistent/rustc' } });
    service = await startService(loadConfig({ DATABASE_URL: db.url }, 'test'), createSilentLogger(), { runtimes: [rust] });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('initialize, and health says why', async () => {
    const rust = await initialize(service, 'rust-validator', { script_content: 'pub fn handler() {}' });
    assert.equal(rust.status, 503);
    assert.equal(rust.body.error.code, 'RUNTIME_UNAVAILABLE');
    assert.match(rust.body.error.message, /rustc/);
    const node = await initialize(service, 'nodejs-x', { script_content: 'return 1;' });
    assert.equal(node.status, 503);
    assert.match(node.body.error.message, /No nodejs runtime/);
    const health = await call(service, 'GET', '/health');
    assert.equal(health.body.status, 'degraded');
    assert.equal(health.body.components.runtimes.rust.status, 'unavailable');
    assert.match(health.body.components.runtimes.rust.reason, /rustc/);
  });
});
