/**
 * The shared runtime contract over gRPC: a real NodejsRuntime served by createRuntimeServer on a
 * loopback port, reached through RemoteRuntime. Plus what only the remote form has: failing fast
 * when the server goes away, and the standard grpc.health.v1 service.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as grpc from '@grpc/grpc-js';

import { ServiceError } from '../../src/errors/service-error.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import type { RemoteRuntime } from '../../src/rpc/remote-runtime.js';
import { loadProtos, type WireHealthCheckResponseStd } from '../../src/rpc/runtime-proto.js';
import { createRuntimeServer, type RuntimeServer } from '../../src/rpc/runtime-server.js';
import { NodejsRuntime } from '../../src/runtimes/nodejs/nodejs-runtime.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { runRuntimeContract, scriptHashOf } from './contract.js';
import { nodejsFixtures } from './nodejs-fixtures.js';
import { servedRemote } from './remote-fixtures.js';
import { MAX_MESSAGE_BYTES, NODEJS_DEFAULTS, remoteRuntime } from '../helpers/defaults.js';


const logger = createSilentLogger();

/** A NodejsRuntime served on a free loopback port; stopping the remote also stops both. */
async function serve(): Promise<{ local: Runtime; server: RuntimeServer; port: number }> {
  const local = new NodejsRuntime({ ...NODEJS_DEFAULTS, logger, poolSize: 2, maxPoolSize: 4, memoryLimitMb: 64 });
  await local.start();
  const server = createRuntimeServer(local, { logger, maxMessageBytes: MAX_MESSAGE_BYTES });
  const port = await server.start('127.0.0.1', 0);
  return { local, server, port };
}

runRuntimeContract('nodejs over gRPC', servedRemote(() => new NodejsRuntime({ ...NODEJS_DEFAULTS, logger, poolSize: 2, maxPoolSize: 4, memoryLimitMb: 64 })), nodejsFixtures);

describe('remote runtime over gRPC', () => {
  let served: Awaited<ReturnType<typeof serve>>;
  let remote: RemoteRuntime;

  before(async () => {
    served = await serve();
    remote = remoteRuntime('nodejs', `127.0.0.1:${served.port}`, logger, { healthIntervalMs: 200 });
    await remote.start();
  });

  after(async () => {
    await remote.stop();
    await served.server.stop(1000);
    await served.local.stop();
  });

  it('answers SERVING on grpc.health.v1 Check, and NOT_FOUND for an unknown service', async () => {
    const { HealthClient } = loadProtos();
    const client = new HealthClient(`127.0.0.1:${served.port}`, grpc.credentials.createInsecure());
    try {
      const check = (service: string): Promise<WireHealthCheckResponseStd> =>
        new Promise((resolve, reject) => client.Check({ service }, { deadline: Date.now() + 2000 }, (error, answer) => (error ? reject(error) : resolve(answer!))));
      assert.equal((await check('')).status, 'SERVING');
      assert.equal((await check('lambda.runtime.v1.RuntimeService')).status, 'SERVING');
      await assert.rejects(check('no.such.Service'), (error: grpc.ServiceError) => error.code === grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it('reports the remote health details with its address', () => {
    const health = remote.health();
    assert.equal(health.status, 'up');
    assert.equal(health.details?.address, `127.0.0.1:${served.port}`);
    assert.equal(health.details?.remote, true);
  });

  it('caps the invocation by the call deadline', async () => {
    const source = 'for (;;) {}';
    const hash = scriptHashOf('nodejs', source);
    assert.equal((await remote.prepare({ scriptHash: hash, source })).ok, true);
    // A margin of 0: the gRPC deadline equals timeoutMs, and the server passes it on as the cap.
    const tight = remoteRuntime('nodejs', `127.0.0.1:${served.port}`, logger, { deadlineMarginMs: 0 });
    await tight.start();
    try {
      const started = performance.now();
      const outcome = await tight
        .execute({ scriptHash: hash, instanceKey: 'deadline', event: { params: {}, context: {}, request_id: 'd' }, timeoutMs: 300 })
        .then((result) => result.status, (error: unknown) => (error instanceof ServiceError ? error.code : String(error)));
      // Either the runtime's timeout wins the race or the deadline does; it never runs past it.
      assert.ok(outcome === 'timeout' || outcome === 'RUNTIME_UNAVAILABLE', outcome);
      assert.ok(performance.now() - started < 1500);
    } finally {
      await tight.stop();
    }
  });

  it('fails fast with RUNTIME_UNAVAILABLE once the server is gone, and reports unavailable', async () => {
    const source = 'return 1;';
    const hash = scriptHashOf('nodejs', source);
    assert.equal((await remote.prepare({ scriptHash: hash, source })).ok, true);
    const event = { params: {}, context: {}, request_id: 'gone' };
    assert.equal((await remote.execute({ scriptHash: hash, instanceKey: 'gone', event, timeoutMs: 5000 })).status, 'ok');

    await served.server.stop(500);
    const started = performance.now();
    await assert.rejects(
      remote.execute({ scriptHash: hash, instanceKey: 'gone', event, timeoutMs: 5000 }),
      (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE' && error.message.includes(`127.0.0.1:${served.port}`),
    );
    await assert.rejects(remote.prepare({ scriptHash: hash, source }), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE');
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `failed after ${elapsed} ms`);
    remote.release('gone'); // never throws, even now

    // The background poll notices within a couple of intervals.
    const deadline = Date.now() + 3000;
    while (remote.health().status !== 'unavailable' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(remote.health().status, 'unavailable');
    assert.match(remote.health().reason ?? '', /127\.0\.0\.1/);
  });
});
