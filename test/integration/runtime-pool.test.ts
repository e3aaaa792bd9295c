/**
 * A language spread over several gRPC runtime servers (src/rpc/runtime-pool.ts): real Node.js
 * runtimes served on loopback ports, reached through the real client. How calls are spread, how a
 * new endpoint gets its scripts, what happens when an endpoint goes away before or during a call.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';

import { isServiceError } from '../../src/errors/service-error.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import { createRuntimePool, type RuntimePool } from '../../src/rpc/runtime-pool.js';
import type { InvocationResult } from '../../src/runtimes/runtime.js';
import { scriptHashOf } from '../runtime-contract/contract.js';
import { freePort } from '../helpers/scratch-services.js';
import { serveNodejs, type ServedRuntime } from '../helpers/served-runtime.js';
import { waitFor } from '../helpers/wait.js';
import { DEFAULTS, remoteRuntime } from '../helpers/defaults.js';

const logger = createSilentLogger();
const served: ServedRuntime[] = [];
const pools: RuntimePool[] = [];

async function serve(port = 0): Promise<ServedRuntime> {
  const entry = await serveNodejs(port);
  served.push(entry);
  return entry;
}

async function poolOf(addresses: string[], strategy: 'least-outstanding' | 'round-robin' = 'least-outstanding'): Promise<RuntimePool> {
  const pool = createRuntimePool({
    kind: 'remote',
    language: 'nodejs',
    strategy,
    logger,
    origin: 'test',
    endpoints: addresses,
    calls: DEFAULTS.runtimeCalls,
    connect: (address) => remoteRuntime('nodejs', address, logger, { healthIntervalMs: 100, startTimeoutMs: 2000 }),
  });
  pools.push(pool);
  await pool.start();
  return pool;
}

const SOURCE = 'return { sum: event.params.a + event.params.b };';
const HASH = scriptHashOf('nodejs', SOURCE);
// The sandbox has no timers: a busy wait stands for a slow script.
const SLOW_SOURCE = 'const end = Date.now() + event.params.ms; while (Date.now() < end) {} return "slept";';
const SLOW_HASH = scriptHashOf('nodejs', SLOW_SOURCE);

function run(pool: RuntimePool, a: number, instanceKey = `s-${a}`, hash = HASH, params: unknown = { a, b: 1 }): Promise<InvocationResult> {
  return pool.execute({ scriptHash: hash, instanceKey, event: { params, context: {}, request_id: instanceKey }, timeoutMs: 5000 });
}

afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.stop();
  for (const s of served.splice(0)) await s.close();
});
after(() => undefined);

describe('runtime pool over gRPC endpoints', () => {
  it('round robin alternates endpoints, and each endpoint is sent the script once when it lacks it', async () => {
    const [a, b] = [await serve(), await serve()];
    const pool = await poolOf([a.address, b.address], 'round-robin');
    const prepared = await pool.prepare({ scriptHash: HASH, source: SOURCE });
    assert.equal(prepared.ok, true);
    for (let i = 0; i < 10; i++) {
      const result = await run(pool, i);
      assert.equal(result.status, 'ok');
      assert.deepEqual(result.status === 'ok' && result.result, { sum: i + 1 });
    }
    // 10 calls over 2 endpoints; the one that was not prepared answered not_prepared once (+1 execute).
    assert.equal(a.executes.length + b.executes.length, 11);
    assert.ok(a.executes.length >= 5 && b.executes.length >= 5, `split ${a.executes.length}/${b.executes.length}`);
    assert.equal(pool.health().status, 'up');
  });

  it('least outstanding sends concurrent calls to the idle endpoint, and keeps a session on its warm endpoint', async () => {
    const [a, b] = [await serve(), await serve()];
    const pool = await poolOf([a.address, b.address]);
    await pool.prepare({ scriptHash: SLOW_HASH, source: SLOW_SOURCE });
    await pool.prepare({ scriptHash: HASH, source: SOURCE });
    // Two slow calls at once land on different endpoints.
    const before = [a.executes.length, b.executes.length];
    await Promise.all([run(pool, 0, 'x', SLOW_HASH, { ms: 300 }), run(pool, 0, 'y', SLOW_HASH, { ms: 300 })]);
    const first = [a.executes.length - (before[0] as number), b.executes.length - (before[1] as number)];
    assert.ok((first[0] as number) >= 1 && (first[1] as number) >= 1, `concurrent calls split ${first.join('/')}`);

    // Sequential calls of one session stay where its warm state is.
    await run(pool, 1, 'warm');
    const [wa, wb] = [a.executes.length, b.executes.length];
    for (let i = 0; i < 8; i++) assert.equal((await run(pool, i, 'warm')).status, 'ok');
    assert.ok(a.executes.length - wa === 8 || b.executes.length - wb === 8, `session spread over endpoints: ${a.executes.length - wa}/${b.executes.length - wb}`);
  });

  it('a call that cannot reach an endpoint goes to another one; the dead endpoint is ejected and comes back', async () => {
    const a = await serve();
    const b = await serve();
    const pool = await poolOf([a.address, b.address], 'round-robin');
    await pool.prepare({ scriptHash: HASH, source: SOURCE });
    await b.stopServer(0);
    for (let i = 0; i < 6; i++) {
      const result = await run(pool, i);
      assert.equal(result.status, 'ok', 'every call is answered by the endpoint still up');
    }
    assert.ok(pool.retries >= 1, 'the call that found b gone was retried on a');
    const health = pool.health();
    assert.equal(health.status, 'degraded');
    assert.match(String(health.reason), /1 of 2/);

    // b comes back on the same port: health checks let it in again, and it gets the script.
    const b2 = await serve(b.port);
    await waitFor('b to be healthy again', () => pool.health().status === 'up');
    for (let i = 0; i < 6; i++) assert.equal((await run(pool, i)).status, 'ok');
    assert.ok(b2.executes.length >= 3, `restarted endpoint took calls: ${b2.executes.length}`);
  });

  it('a call running when its endpoint dies fails with RUNTIME_UNAVAILABLE at once and is not repeated', async () => {
    const a = await serve();
    const b = await serve();
    const pool = await poolOf([a.address, b.address]);
    await pool.prepare({ scriptHash: SLOW_HASH, source: SLOW_SOURCE });
    // Pin the session to a.
    await run(pool, 0, 'victim', SLOW_HASH, { ms: 1 });
    const victim = a.executes.length > 0 ? a : b;
    const executesBefore = a.executes.length + b.executes.length;
    const started = Date.now();
    const pending = run(pool, 0, 'victim', SLOW_HASH, { ms: 3000 });
    await waitFor('the slow call to reach its endpoint', () => a.executes.length + b.executes.length > executesBefore);
    await victim.stopServer(0);
    await assert.rejects(pending, (error: unknown) => isServiceError(error) && error.code === 'RUNTIME_UNAVAILABLE');
    assert.ok(Date.now() - started < 2500, 'failed when the endpoint died, not at the script timeout');
    assert.equal(a.executes.length + b.executes.length, executesBefore + 1, 'the interrupted call was not run again elsewhere');
  });

  it('endpoints removed while a call runs finish it; later calls go only to the new set', async () => {
    const [a, b] = [await serve(), await serve()];
    const pool = await poolOf([a.address]);
    await pool.prepare({ scriptHash: SLOW_HASH, source: SLOW_SOURCE });
    const pending = run(pool, 0, 'long', SLOW_HASH, { ms: 400 });
    await waitFor('the call to start on a', () => a.executes.length === 1);
    pool.setEndpoints([b.address]);
    assert.deepEqual(pool.endpoints, [b.address]);
    const done = await pending;
    assert.equal(done.status, 'ok', 'the call in flight on the removed endpoint finished');
    await waitFor('b to be healthy', () => pool.health().status === 'up');
    for (let i = 0; i < 4; i++) assert.equal((await run(pool, i, `n${i}`, SLOW_HASH, { ms: 1 })).status, 'ok');
    assert.equal(a.executes.length, 1, 'no call reached the removed endpoint');
    assert.ok(b.executes.length >= 4);
  });

  it('no endpoints: unavailable with a reason, and calls fail fast', async () => {
    const pool = await poolOf([]);
    const health = pool.health();
    assert.equal(health.status, 'unavailable');
    assert.match(String(health.reason), /no nodejs runtime endpoints \(test\)/);
    await assert.rejects(run(pool, 1), (error: unknown) => isServiceError(error) && error.code === 'RUNTIME_UNAVAILABLE');
    const port = await freePort();
    pool.setEndpoints([`127.0.0.1:${port}`]);
    await waitFor('the unreachable endpoint to be checked', () => /unreachable|unavailable/.test(JSON.stringify(pool.health())), 8000);
    assert.equal(pool.health().status, 'unavailable');
  });
});
