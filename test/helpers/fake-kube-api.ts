/**
 * A local stand-in for the Kubernetes API server, enough of it for EndpointSlice discovery: list and
 * watch of discovery.k8s.io/v1 EndpointSlices in the real wire format, so the real
 * @kubernetes/client-node talks to it exactly as to a cluster. Watches are chunked responses with
 * one JSON event per line; resourceVersions only grow; label selectors filter (`in`, `notin`, `=`,
 * `==`, `!=`, exists, `!key`) and a slice whose labels stop matching leaves a watch as DELETED, as
 * the real server does; a watch from a compacted resourceVersion gets 410 Gone.
 *
 * Test controls: upsertSlice/deleteSlice change state (watches see the events), dropWatches cuts the
 * open watches, setFailing makes every request fail (500, reset, or no answer), compact forgets
 * history, and `requests` records what the client asked.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface FakeEndpoint {
  readonly address: string;
  /** Unset is ready, as in the API. */
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
}

export interface EndpointSliceObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string; uid?: string; generation?: number; creationTimestamp?: string };
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Array<{ addresses: string[]; conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } }> | null;
  ports: Array<{ name?: string; port?: number; protocol?: string; appProtocol?: string }> | null;
}

/**
 * An EndpointSlice of a Service as the EndpointSlice controller writes it: labelled with
 * `kubernetes.io/service-name`, one address per endpoint, by default one port named `grpc`.
 */
export function endpointSlice(
  name: string,
  service: string,
  endpoints: readonly FakeEndpoint[],
  options: { namespace?: string; ports?: Array<{ name?: string; port: number }>; addressType?: 'IPv4' | 'IPv6' | 'FQDN'; labels?: Record<string, string> } = {},
): EndpointSliceObject {
  const addressType = options.addressType ?? (endpoints.some((e) => e.address.includes(':')) ? 'IPv6' : 'IPv4');
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', ...options.labels },
    },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      // The controller always writes all three; a test leaves `ready` out to mean "unset".
      conditions: { ...(e.ready === undefined ? {} : { ready: e.ready }), serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
    })),
    ports: (options.ports ?? [{ name: 'grpc', port: 50051 }]).map((p) => ({ ...p, protocol: 'TCP' })),
  };
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  readonly authorization: string | undefined;
  readonly at: number;
}

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

/** Parses a label selector into requirements that must all hold (an empty selector matches all). */
export function parseLabelSelector(selector: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part): Requirement => {
      const set = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
      if (set) {
        const [, key = '', op, list = ''] = set;
        const values = new Set(list.split(',').map((v) => v.trim()).filter((v) => v.length > 0));
        return op === 'in' ? (labels) => labels[key] !== undefined && values.has(labels[key]) : (labels) => labels[key] === undefined || !values.has(labels[key]);
      }
      const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part);
      if (equality) {
        const [, key = '', op, value] = equality;
        return op === '!=' ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
      }
      const exists = /^(!?)([\w./-]+)$/.exec(part);
      if (exists) {
        const [, not, key = ''] = exists;
        return not ? (labels) => labels[key] === undefined : (labels) => labels[key] !== undefined;
      }
      throw new Error(`unable to parse requirement: ${part}`);
    });
}

interface HistoryEvent {
  readonly resourceVersion: number;
  /** The object before (undefined when added) and after (undefined when deleted) the change. */
  readonly before: EndpointSliceObject | undefined;
  readonly after: EndpointSliceObject | undefined;
}

interface OpenWatch {
  readonly namespace: string | undefined;
  readonly selector: Requirement[];
  readonly bookmarks: boolean;
  readonly response: ServerResponse;
  readonly timer: NodeJS.Timeout | undefined;
}

export type FailureMode = 'status' | 'reset' | 'hang';

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  readonly token = 'fake-token-for-tests';
  #server: Server;
  #port = 0;
  #resourceVersion = 1000;
  /** Changes at or below this resourceVersion are forgotten: a watch from before gets 410. */
  #compactedTo = 1000;
  #expiredAs: 'event' | 'http' = 'event';
  #objects = new Map<string, EndpointSliceObject>();
  #history: HistoryEvent[] = [];
  #watches = new Set<OpenWatch>();
  #sockets = new Set<Socket>();
  #hanging = new Set<ServerResponse>();
  #failing: FailureMode | undefined;

  private constructor() {
    this.#server = createServer((request, response) => this.#handle(request, response));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(): Promise<FakeKubeApi> {
    const api = new FakeKubeApi();
    await new Promise<void>((resolve) => api.#server.listen(0, '127.0.0.1', resolve));
    const address = api.#server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    api.#port = address.port;
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  /** Creates or replaces a slice (by namespace and name); returns its new resourceVersion. */
  upsertSlice(slice: EndpointSliceObject): string {
    const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
    const before = this.#objects.get(key);
    const version = ++this.#resourceVersion;
    const after: EndpointSliceObject = structuredClone(slice);
    after.metadata.resourceVersion = String(version);
    after.metadata.uid = before?.metadata.uid ?? `uid-${version}`;
    after.metadata.generation = (before?.metadata.generation ?? 0) + 1;
    after.metadata.creationTimestamp = before?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.#objects.set(key, after);
    this.#record({ resourceVersion: version, before, after });
    return String(version);
  }

  deleteSlice(name: string, namespace = 'default'): void {
    const key = `${namespace}/${name}`;
    const before = this.#objects.get(key);
    if (!before) throw new Error(`no EndpointSlice ${key}`);
    this.#objects.delete(key);
    const version = ++this.#resourceVersion;
    // The DELETED event carries the last state with the deletion's resourceVersion.
    this.#record({ resourceVersion: version, before, after: undefined });
  }

  /** Forgets the history so far (etcd compaction): watches from an older resourceVersion get 410 Gone, as an ERROR event or an HTTP 410. */
  compact(expiredAs: 'event' | 'http' = 'event'): void {
    this.#compactedTo = this.#resourceVersion;
    this.#history = [];
    this.#expiredAs = expiredAs;
  }

  /** Sends a BOOKMARK with the current resourceVersion on every watch that allowed bookmarks. */
  bookmark(): void {
    for (const watch of this.#watches) {
      if (watch.bookmarks) this.#send(watch, 'BOOKMARK', { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: this.resourceVersion } });
    }
  }

  /** Cuts every open watch: `end` finishes the response cleanly (a server-side timeout), `destroy` resets the connection. Returns how many. */
  dropWatches(how: 'end' | 'destroy' = 'destroy'): number {
    const count = this.#watches.size;
    for (const watch of [...this.#watches]) {
      this.#closeWatch(watch);
      if (how === 'end') watch.response.end();
      else watch.response.destroy();
    }
    return count;
  }

  /** While failing, every request fails: `status` answers 500, `reset` cuts the connection, `hang` never answers. Open watches are cut. */
  setFailing(failing: boolean, mode: FailureMode = 'status'): void {
    this.#failing = failing ? mode : undefined;
    if (failing) this.dropWatches('destroy');
    else {
      for (const response of this.#hanging) response.destroy();
      this.#hanging.clear();
    }
  }

  openWatches(): number {
    return this.#watches.size;
  }

  /** TCP connections clients hold open to the server right now. */
  openConnections(): number {
    return this.#sockets.size;
  }

  /** A client configuration for this server: plain HTTP on loopback, a bearer token. */
  kubeConfig(namespace = 'default'): KubeConfig {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake-user', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user', namespace }],
      currentContext: 'fake',
    });
    return kubeConfig;
  }

  /** Writes a kubeconfig file for this server (for another process: KUBECONFIG); returns its path. */
  async writeKubeconfig(dir: string, namespace = 'default'): Promise<string> {
    const path = join(dir, 'kubeconfig.yaml');
    // JSON is YAML: the library reads either.
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake-user', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user', namespace } }],
      'current-context': 'fake',
    };
    await mkdir(dir, { recursive: true });
    await writeFile(path, JSON.stringify(config, null, 2));
    return path;
  }

  async close(): Promise<void> {
    for (const watch of [...this.#watches]) this.#closeWatch(watch);
    for (const response of this.#hanging) response.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #record(event: HistoryEvent): void {
    this.#history.push(event);
    for (const watch of this.#watches) this.#deliver(watch, event);
  }

  /** Sends a change to a watch as the real server does: by whether the object matched before and after. */
  #deliver(watch: OpenWatch, event: HistoryEvent): void {
    const object = event.after ?? event.before;
    if (!object || (watch.namespace !== undefined && object.metadata.namespace !== watch.namespace)) return;
    const matches = (o: EndpointSliceObject | undefined): boolean => o !== undefined && watch.selector.every((r) => r(o.metadata.labels));
    const was = matches(event.before);
    const is = matches(event.after);
    const sent = structuredClone(object);
    sent.metadata.resourceVersion = String(event.resourceVersion);
    if (is) this.#send(watch, was ? 'MODIFIED' : 'ADDED', sent);
    else if (was) this.#send(watch, 'DELETED', sent);
  }

  #send(watch: OpenWatch, type: string, object: unknown): void {
    watch.response.write(`${JSON.stringify({ type, object })}\n`);
  }

  #closeWatch(watch: OpenWatch): void {
    clearTimeout(watch.timer);
    this.#watches.delete(watch);
  }

  #status(response: ServerResponse, code: number, reason: string, message: string): void {
    response.writeHead(code, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams);
    const watch = query.watch === 'true' || query.watch === '1';
    this.requests.push({ method: request.method ?? 'GET', path: url.pathname, query, watch, authorization: request.headers.authorization, at: Date.now() });

    if (this.#failing === 'reset') return void request.socket.destroy();
    if (this.#failing === 'hang') return void this.#hanging.add(response);
    if (this.#failing === 'status') return this.#status(response, 500, 'InternalError', 'Internal error occurred: etcdserver: request timed out');
    if (request.headers.authorization !== `Bearer ${this.token}`) return this.#status(response, 401, 'Unauthorized', 'Unauthorized');

    const match = /^\/apis\/discovery\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?endpointslices$/.exec(url.pathname);
    if (!match || request.method !== 'GET') return this.#status(response, 404, 'NotFound', `the server could not find the requested resource (${request.method} ${url.pathname})`);
    const namespace = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    let selector: Requirement[];
    try {
      selector = parseLabelSelector(query.labelSelector ?? '');
    } catch (error) {
      return this.#status(response, 400, 'BadRequest', `unable to parse requirement: ${(error as Error).message}`);
    }
    const visible = [...this.#objects.values()].filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && selector.every((r) => r(o.metadata.labels)));

    if (!watch) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: this.resourceVersion }, items: visible }));
      return;
    }

    const from = query.resourceVersion ?? '';
    if (from !== '' && from !== '0' && Number(from) < this.#compactedTo) {
      const message = `too old resource version: ${from} (${this.#compactedTo})`;
      if (this.#expiredAs === 'http') return this.#status(response, 410, 'Expired', message);
      // The real server answers 200, sends one ERROR event with the Status, and ends the watch.
      response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      response.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 } })}\n`);
      return;
    }

    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    response.flushHeaders();
    // The server ends a watch after the timeoutSeconds the client asked for, cleanly.
    const timeoutSeconds = Number(query.timeoutSeconds ?? '0');
    const endAfterTimeout = (): void => {
      this.#closeWatch(open);
      response.end();
    };
    const open: OpenWatch = {
      namespace,
      selector,
      bookmarks: query.allowWatchBookmarks === 'true',
      response,
      timer: timeoutSeconds > 0 ? setTimeout(endAfterTimeout, timeoutSeconds * 1000) : undefined,
    };
    this.#watches.add(open);
    response.on('close', () => this.#closeWatch(open));
    if (from === '' || from === '0') {
      // No resourceVersion: the current state as synthetic ADDED events, then changes.
      for (const object of visible) this.#send(open, 'ADDED', object);
    } else {
      for (const event of this.#history) if (event.resourceVersion > Number(from)) this.#deliver(open, event);
    }
  }
}
