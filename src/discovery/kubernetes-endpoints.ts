/**
 * Runtime endpoints from Kubernetes: the EndpointSlices (discovery.k8s.io/v1) of each language's
 * runtime Service, listed then watched through @kubernetes/client-node, so runtime pods that become
 * ready join their language's set and pods that terminate leave it while the controller runs.
 *
 * The list (DiscoveryV1Api) and the watch stream (Watch) are the library's; the loop around them is
 * ours rather than its ListWatch informer, because that informer stops for good on the first error,
 * rewatches without any backoff, never says when a watch is connected again (health needs that),
 * and a stop() during its list still opens a watch afterwards, which keeps the process alive.
 * One watch is endpoint-slice-watch.ts's; what the slices add up to is endpoint-slices.ts's.
 */
import { DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';

import type { Config } from '../config/config.js';
import { LANGUAGES, type Language } from '../runtimes/runtime.js';
import type { Logger } from '../observability/logger.js';
import { EndpointSliceWatch, type WatchSink } from './endpoint-slice-watch.js';
import { EndpointSliceTable, SERVICE_NAME_LABEL } from './endpoint-slices.js';
import type { EndpointSource, EndpointsListener } from './endpoint-source.js';
import { describeError, loadKubeConfig, withSignal } from './kubernetes-api.js';

/** The `kubernetes` settings (src/config/schema.ts: namespace, Services, port name, kubeconfig, timings), and a logger. */
export type KubernetesEndpointSourceOptions = Omit<Config['kubernetes'], 'services'> & {
  /** Each language's runtime Service; its EndpointSlices carry the label `kubernetes.io/service-name`. */
  readonly services: Readonly<Record<Language, string>>;
  /** A ready client configuration (tests); otherwise one is loaded from `kubeconfig` or the Pod. */
  readonly kubeConfig?: KubeConfig;
  readonly logger: Logger;
};

/**
 * A source of each language's runtime endpoints watched from the Kubernetes API server.
 * Throws at once when there is no way to reach an API server (no kubeconfig and not in a Pod).
 */
export function createKubernetesEndpointSource(options: KubernetesEndpointSourceOptions): EndpointSource {
  const { namespace, portName, logger, startTimeoutMs, retryInitialMs, retryMaxMs, requestTimeoutMs, watchTimeoutSeconds } = options;

  const kubeConfig = options.kubeConfig ?? loadKubeConfig(options.kubeconfig);
  const apiServer = kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
  const api = kubeConfig.makeApiClient(DiscoveryV1Api);

  let listener: EndpointsListener | undefined;
  const table = new EndpointSliceTable({ services: options.services, portName, logger, onChange: (language, addresses) => listener?.(language, addresses) });
  const labelSelector = `${SERVICE_NAME_LABEL} in (${table.services.join(',')})`;
  const watch = new EndpointSliceWatch({
    kubeConfig,
    path: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
    labelSelector,
    requestTimeoutMs,
    watchTimeoutSeconds,
    logger,
  });

  let resourceVersion = '';
  let loop: Promise<void> | undefined;
  let stopped = false;
  const stopController = new AbortController();

  let synced = false;
  let lastSyncAt: Date | undefined;
  let lastError: string | undefined;
  let failingSince: Date | undefined;
  let consecutiveFailures = 0;
  let resolveFirstSync: () => void = () => {};
  const firstSync = new Promise<void>((resolve) => (resolveFirstSync = resolve));

  function markSynced(): void {
    if (failingSince) logger.info({ apiServer, after: lastError }, 'Kubernetes endpoint discovery is in sync again');
    synced = true;
    lastSyncAt = new Date();
    lastError = undefined;
    failingSince = undefined;
    consecutiveFailures = 0;
    resolveFirstSync();
  }

  function markFailing(error: unknown): void {
    const message = describeError(error);
    consecutiveFailures += 1;
    if (!failingSince) {
      failingSince = new Date();
      logger.warn({ apiServer, err: message }, synced ? 'Kubernetes API server failing: keeping the last known runtime endpoints' : 'Kubernetes API server failing: no runtime endpoints known yet');
    } else {
      logger.debug({ apiServer, err: message, consecutiveFailures }, 'Kubernetes API server still failing');
    }
    lastError = message;
  }

  /** Lists every watched slice, replacing what was known; reports each language whose set changed. */
  async function relist(): Promise<void> {
    const signal = AbortSignal.any([stopController.signal, AbortSignal.timeout(requestTimeoutMs)]);
    const list = await api.listNamespacedEndpointSlice({ namespace, labelSelector }, withSignal(signal));
    const version = list.metadata?.resourceVersion;
    if (!version) throw new Error('the EndpointSlice list carries no resourceVersion');
    resourceVersion = version;
    table.replace(list.items ?? []);
    markSynced();
  }

  /** A watch's events, applied to the table as they arrive. */
  const sink: WatchSink = {
    upsert: (slice) => table.upsert(slice),
    remove: (slice) => table.remove(slice),
    version: (version) => void (resourceVersion = version),
    connected: markSynced,
  };

  /** Waits `ms`, or less when the source stops. */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (stopped) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        stopController.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stopController.signal.addEventListener('abort', done, { once: true });
    });
  }

  function backoffMs(failures: number): number {
    const ceiling = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(failures - 1, 20));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  async function run(): Promise<void> {
    while (!stopped) {
      try {
        if (!resourceVersion) await relist();
        const end = await watch.once(resourceVersion, sink);
        if (end === 'expired') {
          logger.info({ resourceVersion }, 'EndpointSlice watch expired (410 Gone): listing again');
          resourceVersion = '';
        } else if (end === 'closed-early') {
          await pause(retryInitialMs);
        }
      } catch (error) {
        if (stopped) break;
        markFailing(error);
        await pause(backoffMs(consecutiveFailures));
      }
    }
  }

  return {
    async start(onEndpoints: EndpointsListener): Promise<void> {
      if (loop) throw new Error('the Kubernetes endpoint source was already started');
      listener = onEndpoints;
      logger.info({ apiServer, namespace, labelSelector, portName }, 'watching runtime EndpointSlices');
      loop = run();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, startTimeoutMs)));
      await Promise.race([firstSync, timedOut, loop]);
      clearTimeout(timer);
      if (!synced && !stopped) {
        logger.warn({ apiServer, err: lastError, waitedMs: startTimeoutMs }, 'no EndpointSlice list yet: starting without runtime endpoints, still trying');
      }
    },

    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      stopController.abort();
      watch.stop();
      await loop;
    },

    health() {
      const details = {
        apiServer,
        namespace,
        labelSelector,
        portName,
        resourceVersion: resourceVersion || undefined,
        lastSyncAt: lastSyncAt?.toISOString(),
        failingSince: failingSince?.toISOString(),
        consecutiveFailures,
        endpoints: Object.fromEntries(LANGUAGES.map((language) => [language, table.endpointsOf(language)])),
      };
      if (stopped) return { status: 'unavailable', reason: 'Kubernetes endpoint discovery is stopped', details };
      if (!synced) {
        const reason = lastError
          ? `cannot list EndpointSlices from the Kubernetes API server ${apiServer}: ${lastError}`
          : `waiting for the first EndpointSlice list from the Kubernetes API server ${apiServer}`;
        return { status: 'unavailable', reason, details };
      }
      if (lastError) {
        return { status: 'degraded', reason: `the Kubernetes API server ${apiServer} is failing (${lastError}); keeping the last known runtime endpoints`, details };
      }
      return { status: 'up', details };
    },
  };
}
