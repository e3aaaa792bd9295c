/**
 * The service with RUNTIME_DISCOVERY=kubernetes, end to end: a fake Kubernetes API server (reached
 * through KUBECONFIG, as outside a cluster) publishes the EndpointSlices of the Node.js runtime
 * Service; two Node.js runtime servers serve gRPC on loopback. Traffic flows while a second
 * endpoint joins and the first is marked terminating, deleted, then shut down: every execute
 * answers 200, the new endpoint takes calls, and once the pool dropped the first none reach it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningService } from '../../src/main/service.js';
import { endpointSlice, FakeKubeApi, type FakeEndpoint } from '../helpers/fake-kube-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { serveNodejs, type ServedRuntime } from '../helpers/served-runtime.js';
import { waitFor } from '../helpers/wait.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

const SERVICE = 'lambda-runtime-nodejs';
const TOTAL = 150;
const CONCURRENCY = 3;
/** A new session every few calls: sessions stick to their warm endpoint, new ones spread. */
const CALLS_PER_SESSION = 5;

/** `params.i` of every execute a server ran (the pool's not_prepared asks are not runs). */
function ran(served: ServedRuntime): number[] {
  return served.executes.filter((e) => e.status !== undefined && e.status !== 'not_prepared').map((e) => (e.request.event.params as { i: number }).i);
}

/**
 * The EndpointSlice of one runtime pod. Each pod gets a slice of its own here because the two
 * servers listen on different ports (the controller groups endpoints by port set in the same way).
 */
function podSlice(name: string, served: ServedRuntime, conditions: Omit<FakeEndpoint, 'address'> = {}) {
  return endpointSlice(name, SERVICE, [{ address: '127.0.0.1', ...conditions }], { ports: [{ name: 'grpc', port: served.port }] });
}

describe('RUNTIME_DISCOVERY=kubernetes: traffic across EndpointSlice changes', { timeout: 60_000 }, () => {
  let db: TestDatabase;
  let api: FakeKubeApi;
  let service: RunningService | undefined;
  let first: ServedRuntime;
  let second: ServedRuntime;
  let dir: string;

  before(async () => {
    [db, api, first, second] = await Promise.all([createTestDatabase(), FakeKubeApi.start(), serveNodejs(), serveNodejs()]);
    dir = mkdtempSync(join(tmpdir(), 'lm-kube-traffic-'));
    api.upsertSlice(podSlice(`${SERVICE}-a`, first));
    const kubeconfig = await api.writeKubeconfig(dir);
    service = await startTestService({ DATABASE_URL: db.url, RUNTIME_DISCOVERY: 'kubernetes', KUBECONFIG: kubeconfig, KUBERNETES_NAMESPACE: 'default' });
  });

  after(async () => {
    await service?.stop();
    for (const served of [first, second]) await served?.close();
    await api?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The addresses in the service's Node.js pool that are up, from /health. */
  async function poolEndpoints(): Promise<string[]> {
    const health = await call(service!, 'GET', '/health');
    const endpoints = (health.body.components?.runtimes?.nodejs?.endpoints ?? []) as Array<{ address: string; status: string }>;
    return endpoints.filter((e) => e.status === 'up').map((e) => e.address).sort();
  }

  it('every execute answers 200 while an endpoint joins and the first one terminates; none reach it after the pool dropped it', async () => {
    await waitFor('the first endpoint in the pool', async () => (await poolEndpoints()).join() === first.address);
    const health = await call(service!, 'GET', '/health');
    assert.equal(health.body.components.discovery.status, 'up', JSON.stringify(health.body.components.discovery));

    const failures: string[] = [];
    let next = 0;
    /** Session id per session index; two workers needing the same new session share one initialize. */
    const sessions = new Map<number, Promise<string | undefined>>();
    /** The first call index issued after the service had dropped the first endpoint. */
    let droppedFrom: number | undefined;
    let secondUp: Promise<void> | undefined;
    let firstDropped: Promise<void> | undefined;

    const script = 'return { i: event.params.i, double: event.params.i * 2 };';
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const i = next++;
        if (i === 30) {
          // A second runtime pod becomes ready.
          api.upsertSlice(podSlice(`${SERVICE}-b`, second));
          secondUp = waitFor('the second endpoint up in the pool', async () => (await poolEndpoints()).join() === [first.address, second.address].sort().join());
        }
        if (i === 60) await secondUp;
        if (i === 80) {
          // The first pod is shutting down: terminating (no longer ready), later its slice goes.
          api.upsertSlice(podSlice(`${SERVICE}-a`, first, { ready: false, serving: true, terminating: true }));
          firstDropped = waitFor('the first endpoint out of the pool', async () => !(await call(service!, 'GET', '/health')).body.components.runtimes.nodejs.endpoints.some((e: { address: string }) => e.address === first.address)).then(() => {
            droppedFrom = next;
          });
        }
        if (i === 110) {
          await firstDropped;
          api.deleteSlice(`${SERVICE}-a`);
          // The pod is gone: a call still sent there would fail.
          await first.stopServer(1000);
        }
        const sessionIndex = Math.floor(i / CALLS_PER_SESSION);
        if (!sessions.has(sessionIndex)) {
          sessions.set(
            sessionIndex,
            initialize(service!, `nodejs-k8s${sessionIndex}`, { script_content: script }).then((init) => {
              if (init.status === 200) return init.body.request_id as string;
              failures.push(`initialize ${sessionIndex}: ${init.status} ${JSON.stringify(init.body)}`);
              return undefined;
            }),
          );
        }
        const session = await sessions.get(sessionIndex);
        if (session === undefined) continue;
        const run = await execute(service!, session, { i });
        if (run.status !== 200 || run.body.result?.i !== i || run.body.result?.double !== i * 2) failures.push(`execute ${i}: ${run.status} ${JSON.stringify(run.body)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));

    assert.deepEqual(failures, [], 'every call answered 200 with its own result');
    assert.equal(ran(first).length + ran(second).length, TOTAL, 'every execute ran exactly once, on one of the two');
    assert.ok(droppedFrom !== undefined && droppedFrom <= 110, `the drop was observed before call 110 (${droppedFrom})`);
    assert.ok(ran(first).some((i) => i < 30), 'the first endpoint took calls before the second existed');
    assert.ok(ran(second).some((i) => i < droppedFrom!), `calls reached the added endpoint while both were in: ${JSON.stringify(ran(second))}`);
    const late = ran(first).filter((i) => i >= droppedFrom!);
    assert.deepEqual(late, [], `no call issued after the pool dropped the first endpoint (from #${droppedFrom}) reached it`);
    assert.ok(ran(second).filter((i) => i >= droppedFrom!).length === TOTAL - droppedFrom, 'the second endpoint ran all of them');
    assert.deepEqual(await poolEndpoints(), [second.address]);
    assert.equal((await call(service!, 'GET', '/health')).body.components.discovery.status, 'up');
  });
});
