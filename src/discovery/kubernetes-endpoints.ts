/**
 * Runtime endpoints from Kubernetes: the EndpointSlices (discovery.k8s.io/v1) of each language's
 * runtime Service, listed then watched through @kubernetes/client-node, so runtime pods that become
 * ready join their language's set and pods that terminate leave it while the controller runs.
 *
 * The list (DiscoveryV1Api) and the watch stream (Watch) are the library's; the loop around them is
 * ours rather than its ListWatch informer, because that informer stops for good on the first error,
 * rewatches without any backoff, never says when a watch is connected again (health needs that),
 * and a stop() during its list still opens a watch afterwards, which keeps the process alive.
 */
import type { Agent } from 'node:http';
import { isIPv6 } from 'node:net';
import { delimiter } from 'node:path';
import {
  ApiException,
  DiscoveryV1Api,
  KubeConfig,
  Observable,
  Watch,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { LANGUAGES, type Language } from '../runtimes/runtime.js';
import type { Logger } from '../observability/logger.js';
import type { EndpointSource, EndpointsListener } from './endpoint-source.js';

export interface KubernetesEndpointSourceOptions {
  readonly namespace: string;
  /** Each language's runtime Service; its EndpointSlices carry the label `kubernetes.io/service-name`. */
  readonly services: Readonly<Record<Language, string>>;
  /** The EndpointSlice port used, by name; a slice without a port of this name uses its first port. */
  readonly portName: string;
  /** A ready client configuration (tests); otherwise one is loaded from `kubeconfigPath` or the Pod. */
  readonly kubeConfig?: KubeConfig;
  /** A kubeconfig file (outside a cluster); several joined with `:` merge as kubectl does. Without it the Pod's service account is used. */
  readonly kubeconfigPath?: string;
  readonly logger: Logger;
  /** How long start() waits for the first list before resolving with the source unavailable. */
  readonly startTimeoutMs?: number;
  /** Backoff between failed lists or watch connects: doubles from `initialMs` up to `maxMs`, jittered. */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Bound on one list request and on connecting one watch. */
  readonly requestTimeoutMs?: number;
  /** Asked of the API server for each watch: it ends the watch then and we rewatch where we were. */
  readonly watchTimeoutSeconds?: number;
}

/** What a slice contributes: the Service it belongs to and its usable `host:port` addresses. */
interface SliceEndpoints {
  readonly service: string | undefined;
  readonly addresses: readonly string[];
}

/** How one watch ended, when it ended without a failure. */
type WatchEnd = 'closed' | 'closed-early' | 'expired' | 'stopped';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** A watch that ends sooner than this after connecting waits before the next one (no hot loop). */
const MIN_WATCH_MS = 1_000;

/**
 * A source of each language's runtime endpoints watched from the Kubernetes API server.
 * Throws at once when there is no way to reach an API server (no kubeconfig and not in a Pod).
 */
export function createKubernetesEndpointSource(options: KubernetesEndpointSourceOptions): EndpointSource {
  const { namespace, portName, logger } = options;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const retryInitialMs = options.retry?.initialMs ?? 500;
  const retryMaxMs = options.retry?.maxMs ?? 30_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;

  const kubeConfig = options.kubeConfig ?? loadKubeConfig(options.kubeconfigPath);
  const apiServer = kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
  const api = kubeConfig.makeApiClient(DiscoveryV1Api);

  // Watch.watch gives its AbortController only once the response headers arrived: until then the
  // one way to cancel a connect that hangs is to destroy the agent the library made for it.
  let connectingAgent: Agent | undefined;
  const watchConfig: KubeConfig = Object.create(kubeConfig, {
    applyToFetchOptions: {
      value: async (opts: Parameters<KubeConfig['applyToFetchOptions']>[0]) => {
        const init = await kubeConfig.applyToFetchOptions(opts);
        connectingAgent = init.agent as Agent | undefined;
        return init;
      },
    },
  }) as KubeConfig;
  const watch = new Watch(watchConfig);

  const languagesByService = new Map<string, Language[]>();
  for (const language of LANGUAGES) {
    const service = options.services[language];
    languagesByService.set(service, [...(languagesByService.get(service) ?? []), language]);
  }
  const labelSelector = `${SERVICE_NAME_LABEL} in (${[...languagesByService.keys()].sort().join(',')})`;
  const path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`;

  /** Every watched slice by name (names are unique in the namespace). */
  const slices = new Map<string, SliceEndpoints>();
  /** What the listener was last told per language, as the joined address list. */
  const reported = new Map<Language, string>();
  let resourceVersion = '';
  let listener: EndpointsListener | undefined;
  let loop: Promise<void> | undefined;
  let stopped = false;
  const stopController = new AbortController();
  /** Aborts the open watch (stop, an ERROR event); undefined while none is open. */
  let abortWatch: (() => void) | undefined;

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

  function endpointsOf(language: Language): string[] {
    const service = options.services[language];
    const addresses = new Set<string>();
    for (const slice of slices.values()) {
      if (slice.service === service) for (const address of slice.addresses) addresses.add(address);
    }
    return [...addresses].sort();
  }

  /** Tells the listener the current set of each given language whose set differs from what it was told. */
  function publish(languages: Iterable<Language>): void {
    for (const language of languages) {
      const addresses = endpointsOf(language);
      const key = addresses.join(',');
      if (reported.get(language) === key) continue;
      reported.set(language, key);
      logger.info({ language, endpoints: addresses }, 'runtime endpoints from Kubernetes');
      try {
        listener?.(language, addresses);
      } catch (error) {
        logger.error({ err: error, language }, 'runtime endpoints listener failed');
      }
    }
  }

  function languagesOf(...services: (string | undefined)[]): Language[] {
    return services.flatMap((service) => (service === undefined ? [] : (languagesByService.get(service) ?? [])));
  }

  function upsert(slice: V1EndpointSlice): void {
    const name = slice.metadata?.name;
    if (!name) return;
    const before = slices.get(name);
    const after = sliceEndpoints(slice, portName);
    slices.set(name, after);
    publish(new Set(languagesOf(before?.service, after.service)));
  }

  function remove(slice: V1EndpointSlice): void {
    const name = slice.metadata?.name;
    const before = name === undefined ? undefined : slices.get(name);
    if (name === undefined || !before) return;
    slices.delete(name);
    publish(languagesOf(before.service));
  }

  /** Lists every watched slice, replacing what was known; reports each language whose set changed. */
  async function relist(): Promise<void> {
    const signal = AbortSignal.any([stopController.signal, AbortSignal.timeout(requestTimeoutMs)]);
    const list = await api.listNamespacedEndpointSlice({ namespace, labelSelector }, withSignal(signal));
    const version = list.metadata?.resourceVersion;
    if (!version) throw new Error('the EndpointSlice list carries no resourceVersion');
    slices.clear();
    for (const item of list.items ?? []) {
      const name = item.metadata?.name;
      if (name) slices.set(name, sliceEndpoints(item, portName));
    }
    resourceVersion = version;
    publish(LANGUAGES);
    markSynced();
  }

  /**
   * One watch from the current resourceVersion. Resolves when it ends without a failure (the
   * server closed it, or 410 Gone: relist); rejects when it could not connect or the server sent
   * an ERROR event. Applies each event as it arrives.
   */
  function watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let controller: AbortController | undefined;
      let established = false;
      let ended = false;
      let connectedAt = 0;
      let expired = false;
      let eventError: Error | undefined;
      let connectTimedOut = false;
      let idleTimedOut = false;
      let watchdog: NodeJS.Timeout | undefined;

      const abort = (): void => {
        if (controller) controller.abort();
        else connectingAgent?.destroy();
      };
      abortWatch = abort;
      const connectTimer = setTimeout(() => {
        connectTimedOut = true;
        abort();
      }, requestTimeoutMs);

      const finish = (error: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(connectTimer);
        clearTimeout(watchdog);
        if (abortWatch === abort) abortWatch = undefined;
        if (stopped) resolve('stopped');
        else if (expired || statusCodeOf(error) === 410) resolve('expired');
        else if (eventError) reject(eventError);
        else if (!established) {
          if (connectTimedOut) reject(new Error(`watch did not connect within ${requestTimeoutMs} ms`));
          else reject(error instanceof Error ? error : new Error(error ? describeError(error) : 'watch closed before it connected'));
        }
        else {
          // Established watches that end (server timeout, a dropped connection, our watchdog) are
          // simply watched again from the last resourceVersion, as client-go does.
          if (error && !idleTimedOut) logger.debug({ err: describeError(error) }, 'EndpointSlice watch ended');
          resolve(Date.now() - connectedAt < MIN_WATCH_MS ? 'closed-early' : 'closed');
        }
      };

      const onEvent = (type: string, object: unknown): void => {
        if (ended) return;
        const version = resourceVersionOf(object);
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            upsert(object as V1EndpointSlice);
            break;
          case 'DELETED':
            remove(object as V1EndpointSlice);
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR': {
            // A Status object: 410 means our resourceVersion was compacted away (relist).
            const status = object as { code?: number; message?: string; reason?: string };
            if (status.code === 410) expired = true;
            else eventError = new Error(`watch ERROR event: ${status.code ?? '?'} ${status.reason ?? ''} ${status.message ?? ''}`.trim());
            abort();
            return;
          }
          default:
            return;
        }
        if (version) resourceVersion = version;
      };

      const params = { labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds };
      watch.watch(path, params, onEvent, finish).then(
        (result) => {
          controller = result;
          connectingAgent = undefined;
          if (ended) return;
          if (stopped || expired || eventError) {
            controller.abort();
            return;
          }
          established = true;
          connectedAt = Date.now();
          clearTimeout(connectTimer);
          markSynced();
          // The API server ends a watch after timeoutSeconds; one that outlives that by far is a
          // dead connection that no event will ever arrive on.
          watchdog = setTimeout(() => {
            idleTimedOut = true;
            controller?.abort();
          }, (watchTimeoutSeconds + 30) * 1000);
        },
        (error: unknown) => finish(error ?? new Error('watch failed')),
      );
    });
  }

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
        const end = await watchOnce();
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
      abortWatch?.();
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
        endpoints: Object.fromEntries(LANGUAGES.map((language) => [language, endpointsOf(language)])),
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

/**
 * The client configuration outside tests: the kubeconfig file when given, else the Pod's service
 * account. loadFromCluster reads KUBERNETES_SERVICE_HOST/PORT itself (the library, not us: config.ts
 * stays the one reader of the environment in our code); outside a Pod they are unset.
 */
function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (kubeconfigPath) {
    const [first = '', ...more] = kubeconfigPath.split(delimiter).filter((file) => file.length > 0);
    kubeConfig.loadFromFile(first);
    for (const file of more) {
      const next = new KubeConfig();
      next.loadFromFile(file);
      kubeConfig.mergeConfig(next);
    }
  } else {
    kubeConfig.loadFromCluster();
  }
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server || !URL.canParse(server) || server.includes('undefined')) {
    throw new Error(
      kubeconfigPath
        ? `the kubeconfig ${kubeconfigPath} names no usable cluster server (${server ?? 'none'})`
        : 'Kubernetes discovery outside a Pod needs a kubeconfig file (KUBECONFIG): KUBERNETES_SERVICE_HOST is not set',
    );
  }
  return kubeConfig;
}

/** Per-request options that give a list request an AbortSignal (the generated API has no other way). */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/**
 * The endpoints of one slice that may take new calls: `conditions.ready` unset counts as ready (per
 * the API), terminating ones are out. The first address of each endpoint is used (the API says the
 * addresses of one endpoint are fungible); the port is the one named `portName`, else the first.
 */
function sliceEndpoints(slice: V1EndpointSlice, portName: string): SliceEndpoints {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  const ports = slice.ports ?? [];
  const port = (ports.find((p) => p.name === portName) ?? ports[0])?.port;
  if (port === undefined || port === null) return { service, addresses: [] };
  const addresses: string[] = [];
  for (const endpoint of slice.endpoints ?? []) {
    if (endpoint.conditions?.ready === false || endpoint.conditions?.terminating === true) continue;
    const host = endpoint.addresses?.[0];
    if (!host) continue;
    addresses.push(isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);
  }
  return { service, addresses };
}

function resourceVersionOf(object: unknown): string | undefined {
  const metadata = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata;
  return typeof metadata?.resourceVersion === 'string' && metadata.resourceVersion !== '' ? metadata.resourceVersion : undefined;
}

function statusCodeOf(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** A short reason for health and logs: the HTTP status and the API server's message, or the network error. */
function describeError(error: unknown): string {
  if (error instanceof ApiException) {
    let message: string | undefined;
    try {
      const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
      const candidate = (body as { message?: unknown } | null)?.message;
      if (typeof candidate === 'string') message = candidate;
    } catch {
      // Not a Status object: the code alone.
    }
    return `HTTP ${error.code}${message ? `: ${message}` : ''}`;
  }
  const status = statusCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `HTTP ${status} ${message}`;
}
