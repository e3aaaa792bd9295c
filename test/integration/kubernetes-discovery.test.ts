import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, it } from 'node:test';
import { projectPath } from '../../src/config/paths.js';
import type { EndpointSource } from '../../src/discovery/endpoint-source.js';
import { createKubernetesEndpointSource, type KubernetesEndpointSourceOptions } from '../../src/discovery/kubernetes-endpoints.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import type { Language } from '../../src/runtimes/runtime.js';
import { endpointSlice, FakeKubeApi, type FakeEndpoint } from '../helpers/fake-kube-api.js';
import { DEFAULTS } from '../helpers/defaults.js';

const SERVICES = { nodejs: 'lambda-runtime-nodejs', python: 'lambda-runtime-python', rust: 'lambda-runtime-rust' } as const;
const SELECTOR = 'kubernetes.io/service-name in (lambda-runtime-nodejs,lambda-runtime-python,lambda-runtime-rust)';

/** What the source told its listener: every call in order, and the latest set per language. */
class Recorder {
  readonly calls: Array<{ language: Language; addresses: readonly string[] }> = [];
  readonly latest = new Map<Language, readonly string[]>();
  readonly listener = (language: Language, addresses: readonly string[]): void => {
    this.calls.push({ language, addresses: [...addresses] });
    this.latest.set(language, [...addresses]);
  };
  callsFor(language: Language): Array<readonly string[]> {
    return this.calls.filter((c) => c.language === language).map((c) => c.addresses);
  }
}

/** Polls until `check` holds (bounded): the state is asserted, never a sleep. */
async function waitFor(what: string, check: () => boolean, describeState: () => unknown = () => '', timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; state: ${JSON.stringify(describeState())}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** stop() must finish promptly even with requests hanging: a bounded wait, failing instead of hanging. */
async function stopWithin(source: EndpointSource, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const outcome = await Promise.race([source.stop().then(() => 'stopped' as const), late]);
  clearTimeout(timer);
  assert.equal(outcome, 'stopped', `stop() did not finish within ${ms} ms`);
}

function nodejsSlice(name: string, endpoints: readonly FakeEndpoint[], ports?: Array<{ name?: string; port: number }>) {
  return endpointSlice(name, SERVICES.nodejs, endpoints, ports ? { ports } : {});
}

// Bounded: a source that cannot be stopped fails the suite instead of hanging it.
describe('Kubernetes EndpointSlice discovery against a fake API server, through @kubernetes/client-node', { timeout: 60_000 }, () => {
  let api: FakeKubeApi | undefined;
  let source: EndpointSource | undefined;

  afterEach(async () => {
    await source?.stop();
    await api?.close();
    source = undefined;
    api = undefined;
  }, { timeout: 5_000 });

  async function startSource(overrides: Partial<KubernetesEndpointSourceOptions> = {}): Promise<{ api: FakeKubeApi; source: EndpointSource; recorder: Recorder }> {
    api ??= await FakeKubeApi.start();
    const recorder = new Recorder();
    source = createKubernetesEndpointSource({
      ...DEFAULTS.kubernetes,
      services: SERVICES,
      kubeConfig: api.kubeConfig(),
      logger: createSilentLogger(),
      startTimeoutMs: 3_000,
      requestTimeoutMs: 2_000,
      retryInitialMs: 20,
      retryMaxMs: 200,
      ...overrides,
    });
    await source.start(recorder.listener);
    return { api, source, recorder };
  }

  it('reports every language once after the initial list: ready endpoints of all of a Service\'s slices, by port name', async () => {
    api = await FakeKubeApi.start();
    api.upsertSlice(
      nodejsSlice(
        'lambda-runtime-nodejs-a',
        [
          { address: '10.0.0.1', ready: true },
          { address: '10.0.0.2' }, // ready unset: ready, per the API
          { address: '10.0.0.3', ready: false },
          { address: '10.0.0.4', ready: false, serving: true, terminating: true },
        ],
        [{ name: 'metrics', port: 9090 }, { name: 'grpc', port: 50051 }],
      ),
    );
    api.upsertSlice(nodejsSlice('lambda-runtime-nodejs-b', [{ address: '10.0.0.5' }, { address: 'fd00::7' }, { address: '10.0.0.1' }]));
    // No port named grpc: the first port.
    api.upsertSlice(endpointSlice('lambda-runtime-python-x', SERVICES.python, [{ address: '10.1.0.1' }], { ports: [{ name: 'rpc', port: 6000 }, { name: 'admin', port: 7000 }] }));
    // Neither another Service nor the same Service in another namespace counts.
    api.upsertSlice(endpointSlice('other-service-1', 'other-service', [{ address: '10.9.0.1' }]));
    api.upsertSlice(endpointSlice('lambda-runtime-nodejs-elsewhere', SERVICES.nodejs, [{ address: '10.8.0.1' }], { namespace: 'elsewhere' }));

    const { recorder } = await startSource();

    assert.deepEqual(recorder.calls.map((c) => c.language).sort(), ['nodejs', 'python', 'rust'], 'exactly one report per language, empty ones included');
    assert.deepEqual(recorder.latest.get('nodejs'), ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.5:50051', '[fd00::7]:50051']);
    assert.deepEqual(recorder.latest.get('python'), ['10.1.0.1:6000']);
    assert.deepEqual(recorder.latest.get('rust'), []);

    const list = api.requests.find((r) => !r.watch);
    assert.ok(list, 'a list request');
    assert.equal(list.path, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices');
    assert.equal(list.query.labelSelector, SELECTOR);
    assert.equal(list.authorization, `Bearer ${api.token}`, 'the kubeconfig user token is sent');
    await waitFor('the watch', () => api!.openWatches() === 1);
    const watch = api.requests.find((r) => r.watch);
    assert.equal(watch?.query.resourceVersion, api.resourceVersion, 'the watch starts where the list ended');
    assert.equal(watch?.query.labelSelector, SELECTOR);
    assert.equal(watch?.query.allowWatchBookmarks, 'true');

    const health = source!.health();
    assert.equal(health.status, 'up');
    assert.deepEqual((health.details?.endpoints as Record<string, string[]>).python, ['10.1.0.1:6000']);
  });

  it('follows changes live: endpoints and slices added, readiness, termination, a slice deleted', async () => {
    api = await FakeKubeApi.start();
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
    const { recorder } = await startSource();
    const nodejs = (): readonly string[] | undefined => recorder.latest.get('nodejs');
    assert.deepEqual(nodejs(), ['10.0.0.1:50051']);

    // A pod that is not ready yet does not count; a second slice of the same Service adds to the set.
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }, { address: '10.0.0.2', ready: false }]));
    api.upsertSlice(nodejsSlice('nodejs-b', [{ address: '10.0.0.3', ready: true }]));
    await waitFor('the second slice', () => nodejs()?.join() === '10.0.0.1:50051,10.0.0.3:50051', nodejs);
    assert.ok(!recorder.callsFor('nodejs').some((set) => set.includes('10.0.0.2:50051')), 'the not-ready endpoint was never reported');

    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }, { address: '10.0.0.2', ready: true }]));
    await waitFor('the endpoint that became ready', () => nodejs()?.join() === '10.0.0.1:50051,10.0.0.2:50051,10.0.0.3:50051', nodejs);

    // A terminating pod leaves at once (still serving, no longer ready).
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1', ready: false, serving: true, terminating: true }, { address: '10.0.0.2' }]));
    await waitFor('the terminating endpoint to leave', () => nodejs()?.join() === '10.0.0.2:50051,10.0.0.3:50051', nodejs);

    api.deleteSlice('nodejs-b');
    await waitFor('the deleted slice to leave', () => nodejs()?.join() === '10.0.0.2:50051', nodejs);

    // A change that leaves the set as it was is not reported; the last change is still seen after it.
    const before = recorder.callsFor('nodejs').length;
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.2' }, { address: '10.0.0.9', ready: false }]));
    api.upsertSlice(endpointSlice('lambda-runtime-rust-1', SERVICES.rust, [{ address: '10.2.0.1' }]));
    await waitFor('the rust slice', () => recorder.latest.get('rust')?.join() === '10.2.0.1:50051', () => recorder.calls);
    assert.equal(recorder.callsFor('nodejs').length, before, 'an unchanged set is not reported again');
    assert.equal(recorder.callsFor('python').length, 1, 'a language whose slices did not change was reported only once');
    assert.equal(api.requests.filter((r) => !r.watch).length, 1, 'all of it came over the one watch, no relist');
  });

  it('a watch cut by the server is resumed from the last resourceVersion (bookmarks included): changes made meanwhile arrive', async () => {
    api = await FakeKubeApi.start();
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
    const { recorder } = await startSource();
    const fake = api;
    await waitFor('the watch', () => fake.openWatches() === 1);

    // Connection reset, and a change the source cannot see while it is away.
    const seen = fake.resourceVersion;
    assert.equal(fake.dropWatches('destroy'), 1);
    fake.upsertSlice(nodejsSlice('nodejs-b', [{ address: '10.0.0.2' }]));
    await waitFor('the change made while disconnected', () => recorder.latest.get('nodejs')?.join() === '10.0.0.1:50051,10.0.0.2:50051', () => recorder.calls);
    const watches = fake.requests.filter((r) => r.watch);
    assert.equal(watches.length, 2);
    assert.equal(watches[1]?.query.resourceVersion, seen, 'resumed from where it was, not from scratch');

    // A bookmark moves the resourceVersion on without an event (a change in another namespace).
    await waitFor('the second watch', () => fake.openWatches() === 1);
    fake.upsertSlice(endpointSlice('lambda-runtime-nodejs-x', SERVICES.nodejs, [{ address: '10.8.0.1' }], { namespace: 'elsewhere' }));
    fake.bookmark();
    const bookmarked = fake.resourceVersion;
    await waitFor('the bookmark to be read', () => source!.health().details?.resourceVersion === bookmarked, () => source!.health());
    // The server ends the watch cleanly (its timeout): watched again from the bookmark.
    fake.dropWatches('end');
    fake.upsertSlice(nodejsSlice('nodejs-b', [{ address: '10.0.0.3' }]));
    await waitFor('the change after the clean close', () => recorder.latest.get('nodejs')?.join() === '10.0.0.1:50051,10.0.0.3:50051', () => recorder.calls);
    assert.equal(fake.requests.filter((r) => r.watch)[2]?.query.resourceVersion, bookmarked);
    assert.equal(fake.requests.filter((r) => !r.watch).length, 1, 'no relist was needed');
    assert.equal(source!.health().status, 'up');
  });

  for (const expiredAs of ['event', 'http'] as const) {
    it(`410 Gone (${expiredAs === 'event' ? 'an ERROR event' : 'an HTTP 410'}) after compaction: lists again, and a slice deleted meanwhile leaves`, async () => {
      api = await FakeKubeApi.start();
      api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
      api.upsertSlice(nodejsSlice('nodejs-b', [{ address: '10.0.0.2' }]));
      const { recorder } = await startSource();
      const fake = api;
      await waitFor('the watch', () => fake.openWatches() === 1);
      assert.deepEqual(recorder.latest.get('nodejs'), ['10.0.0.1:50051', '10.0.0.2:50051']);

      fake.dropWatches('destroy');
      fake.deleteSlice('nodejs-b');
      fake.upsertSlice(nodejsSlice('nodejs-c', [{ address: '10.0.0.3' }]));
      fake.compact(expiredAs);
      await waitFor('the state after the relist', () => recorder.latest.get('nodejs')?.join() === '10.0.0.1:50051,10.0.0.3:50051', () => recorder.calls);
      assert.equal(fake.requests.filter((r) => !r.watch).length, 2, 'listed again after 410');
      assert.ok(!recorder.callsFor('nodejs').some((set) => set.length === 0), 'never an empty set in between');
      await waitFor('a watch from the new list', () => fake.openWatches() === 1 && source!.health().status === 'up', () => source!.health());
      assert.equal(fake.requests.filter((r) => r.watch).at(-1)?.query.resourceVersion, fake.resourceVersion);
    });
  }

  it('API server failing: health names it and the error, the last endpoints are kept; it catches up when the server is back', async () => {
    api = await FakeKubeApi.start();
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
    const { recorder } = await startSource();
    const fake = api;
    await waitFor('the watch', () => fake.openWatches() === 1);

    let known = ['10.0.0.1:50051'];
    for (const mode of ['status', 'reset'] as const) {
      fake.setFailing(true, mode);
      await waitFor(`health not up (${mode})`, () => source!.health().status !== 'up', () => source!.health());
      // Retried with backoff while failing.
      const failedAt = fake.requests.length;
      await waitFor('retries', () => fake.requests.length >= failedAt + 2, () => fake.requests.length);
      const health = source!.health();
      assert.equal(health.status, 'degraded', 'endpoints are known: degraded, not unavailable');
      assert.ok(health.reason?.includes(fake.url), `the reason names the API server: ${health.reason}`);
      assert.match(health.reason ?? '', mode === 'status' ? /HTTP 500/ : /ECONNRESET|socket hang up/i);
      assert.deepEqual(recorder.latest.get('nodejs'), known, 'the last known endpoints are kept');

      // A change while the server is failing arrives once it is back.
      const address = mode === 'status' ? '10.0.0.2' : '10.0.0.3';
      fake.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }, { address }]));
      fake.setFailing(false);
      known = ['10.0.0.1:50051', `${address}:50051`];
      await waitFor('the change made while failing', () => recorder.latest.get('nodejs')?.join() === known.join(), () => recorder.calls);
      await waitFor('health up again', () => source!.health().status === 'up', () => source!.health());
      assert.equal(source!.health().reason, undefined);
    }
    assert.ok(!recorder.callsFor('nodejs').some((set) => set.length === 0), 'endpoints were never dropped because the API server was away');
  });

  it('API server failing at start: start() resolves after its bounded wait with health unavailable, and the source catches up later', async () => {
    api = await FakeKubeApi.start();
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
    api.setFailing(true);
    const startedAt = Date.now();
    const { recorder } = await startSource({ startTimeoutMs: 400 });
    const waited = Date.now() - startedAt;
    assert.ok(waited >= 350 && waited < 3_000, `start waited ${waited} ms`);
    assert.equal(recorder.calls.length, 0, 'nothing reported before a list succeeded');
    const health = source!.health();
    assert.equal(health.status, 'unavailable');
    assert.match(health.reason ?? '', /cannot list EndpointSlices/);
    assert.ok(health.reason?.includes(api.url), `the reason names the API server: ${health.reason}`);
    assert.match(health.reason ?? '', /HTTP 500/);

    api.setFailing(false);
    await waitFor('every language reported', () => recorder.latest.size === 3, () => recorder.calls);
    assert.deepEqual(recorder.latest.get('nodejs'), ['10.0.0.1:50051']);
    await waitFor('health up', () => source!.health().status === 'up', () => source!.health());
  });

  it('stop() ends the watch and closes its connections, also while a connect hangs', async () => {
    const { api: fake, source: started } = await startSource();
    await waitFor('the watch', () => fake.openWatches() === 1);
    await started.stop();
    await waitFor('no connection left', () => fake.openConnections() === 0, () => fake.openConnections());
    assert.equal(started.health().status, 'unavailable');

    // An API server that accepts and never answers: stop() still ends the pending requests.
    source = undefined;
    fake.setFailing(true, 'hang');
    const { source: hanging } = await startSource({ startTimeoutMs: 200 });
    assert.equal(hanging.health().status, 'unavailable');
    await stopWithin(hanging, 1_000);
    await waitFor('no connection left after the hung list', () => fake.openConnections() === 0, () => fake.openConnections());

    // Likewise a watch connect that hangs (the list went through): the library's Watch has no handle to cancel it yet.
    source = undefined;
    fake.setFailing(false);
    const { source: watching } = await startSource();
    await waitFor('the watch', () => fake.openWatches() === 1);
    const before = fake.requests.length;
    fake.setFailing(true, 'hang');
    await waitFor('the watch connect that hangs', () => fake.requests.slice(before).some((r) => r.watch));
    await stopWithin(watching, 1_000);
    await waitFor('no connection left after the hung watch', () => fake.openConnections() === 0, () => fake.openConnections());
  });

  it('a hung watch connect is given up after the request timeout and retried', async () => {
    api = await FakeKubeApi.start();
    const fake = api;
    const { recorder } = await startSource({ requestTimeoutMs: 300 });
    assert.equal(recorder.calls.length, 3);
    fake.setFailing(true, 'hang');
    await waitFor('health not up', () => source!.health().status === 'degraded', () => source!.health());
    assert.match(source!.health().reason ?? '', /did not connect within 300 ms/);
    fake.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
    fake.setFailing(false);
    await waitFor('the change', () => recorder.latest.get('nodejs')?.join() === '10.0.0.1:50051', () => recorder.calls);
  });

  it('without a kubeconfig outside a Pod, it says what is missing', { skip: process.env.KUBERNETES_SERVICE_HOST !== undefined }, () => {
    assert.throws(
      () => createKubernetesEndpointSource({ ...DEFAULTS.kubernetes, kubeconfig: undefined, services: SERVICES, logger: createSilentLogger() }),
      /outside a Pod needs a kubeconfig file \(KUBECONFIG\)/,
    );
  });

  it('another process with a kubeconfig file discovers, then exits by itself after stop(), also after an API server that never answers', async () => {
    api = await FakeKubeApi.start();
    api.upsertSlice(nodejsSlice('nodejs-a', [{ address: '10.0.0.1' }]));
    const silent = await FakeKubeApi.start();
    silent.setFailing(true, 'hang');
    const dir = mkdtempSync(join(tmpdir(), 'lm-kube-'));
    try {
      const answering = await api.writeKubeconfig(join(dir, 'a'));
      const hanging = await silent.writeKubeconfig(join(dir, 'b'));
      // One source per kubeconfig, one after the other; the process must then exit on its own.
      const script = `
        const { createKubernetesEndpointSource } = await import(${JSON.stringify(pathToFileURL(projectPath('src/discovery/kubernetes-endpoints.ts')).href)});
        const { createSilentLogger } = await import(${JSON.stringify(pathToFileURL(projectPath('src/observability/logger.ts')).href)});
        const { loadConfig } = await import(${JSON.stringify(pathToFileURL(projectPath('src/config/config.ts')).href)});
        for (const kubeconfigPath of process.argv.slice(-2)) {
          const seen = {};
          const source = createKubernetesEndpointSource({
            ...loadConfig({}).kubernetes, kubeconfig: kubeconfigPath, logger: createSilentLogger(), startTimeoutMs: 1000,
            services: ${JSON.stringify(SERVICES)},
          });
          await source.start((language, addresses) => { seen[language] = addresses; });
          const status = source.health().status;
          await source.stop();
          console.log(JSON.stringify({ seen, status }));
        }
      `;
      const child = spawn(process.execPath, ['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script, answering, hanging], {
        cwd: projectPath(),
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the process did not exit by itself after stop():\n${output}`));
        }, 20_000);
        child.on('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      assert.equal(code, 0, output);
      const results = output.trim().split('\n').map((line) => JSON.parse(line) as unknown);
      assert.deepEqual(results, [
        { seen: { nodejs: ['10.0.0.1:50051'], python: [], rust: [] }, status: 'up' },
        { seen: {}, status: 'unavailable' },
      ]);
      assert.ok(api.requests.some((r) => r.authorization === `Bearer ${api!.token}`), 'the token from the kubeconfig file was sent');
      assert.ok(silent.requests.length > 0, 'the second source did try the silent server');
    } finally {
      await silent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
