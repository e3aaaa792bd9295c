/**
 * One EndpointSlice watch at a time over @kubernetes/client-node's Watch, with what it lacks: a
 * bound on connecting, a watchdog on a connection no event will ever come on, a way to cancel a
 * connect that hangs, and one answer for how the watch ended (kubernetes-endpoints.ts loops on it).
 */
import type { Agent } from 'node:http';
import { KubeConfig, Watch, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { describeError, resourceVersionOf, statusCodeOf } from './kubernetes-api.js';

/** How one watch ended, when it ended without a failure. */
export type WatchEnd = 'closed' | 'closed-early' | 'expired' | 'stopped';

/** Where a watch's events go, as they arrive. */
export interface WatchSink {
  readonly upsert: (slice: V1EndpointSlice) => void;
  readonly remove: (slice: V1EndpointSlice) => void;
  /** The resourceVersion of the last event applied (the next watch starts there). */
  readonly version: (resourceVersion: string) => void;
  /** The watch is connected: the source is in sync again. */
  readonly connected: () => void;
}

export interface EndpointSliceWatchOptions {
  readonly kubeConfig: KubeConfig;
  /** The EndpointSlices' collection path in the namespace. */
  readonly path: string;
  readonly labelSelector: string;
  /** Bound on connecting one watch. */
  readonly requestTimeoutMs: number;
  /** Asked of the API server for each watch: it ends the watch then and we rewatch where we were. */
  readonly watchTimeoutSeconds: number;
  readonly logger: Logger;
}

/** A watch that ends sooner than this after connecting waits before the next one (no hot loop). */
const MIN_WATCH_MS = 1_000;

export class EndpointSliceWatch {
  readonly #o: EndpointSliceWatchOptions;
  readonly #watch: Watch;
  /** The agent of the connect in progress (see the constructor). */
  #connectingAgent: Agent | undefined;
  /** Aborts the open watch (stop, an ERROR event); undefined while none is open. */
  #abort: (() => void) | undefined;
  #stopped = false;

  constructor(options: EndpointSliceWatchOptions) {
    this.#o = options;
    const { kubeConfig } = options;
    // Watch.watch gives its AbortController only once the response headers arrived: until then the
    // one way to cancel a connect that hangs is to destroy the agent the library made for it.
    const watchConfig: KubeConfig = Object.create(kubeConfig, {
      applyToFetchOptions: {
        value: async (opts: Parameters<KubeConfig['applyToFetchOptions']>[0]) => {
          const init = await kubeConfig.applyToFetchOptions(opts);
          this.#connectingAgent = init.agent as Agent | undefined;
          return init;
        },
      },
    }) as KubeConfig;
    this.#watch = new Watch(watchConfig);
  }

  /** Ends the open watch, and any later one at once (`stopped`). */
  stop(): void {
    this.#stopped = true;
    this.#abort?.();
  }

  /**
   * One watch from `resourceVersion`. Resolves when it ends without a failure (the server closed
   * it, or 410 Gone: relist); rejects when it could not connect or the server sent an ERROR event.
   */
  once(resourceVersion: string, sink: WatchSink): Promise<WatchEnd> {
    const { requestTimeoutMs, watchTimeoutSeconds, logger } = this.#o;
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
        else this.#connectingAgent?.destroy();
      };
      this.#abort = abort;
      const connectTimer = setTimeout(() => {
        connectTimedOut = true;
        abort();
      }, requestTimeoutMs);

      const finish = (error: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(connectTimer);
        clearTimeout(watchdog);
        if (this.#abort === abort) this.#abort = undefined;
        if (this.#stopped) resolve('stopped');
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
            sink.upsert(object as V1EndpointSlice);
            break;
          case 'DELETED':
            sink.remove(object as V1EndpointSlice);
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
        if (version) sink.version(version);
      };

      const params = { labelSelector: this.#o.labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds };
      this.#watch.watch(this.#o.path, params, onEvent, finish).then(
        (result) => {
          controller = result;
          this.#connectingAgent = undefined;
          if (ended) return;
          if (this.#stopped || expired || eventError) {
            controller.abort();
            return;
          }
          established = true;
          connectedAt = Date.now();
          clearTimeout(connectTimer);
          sink.connected();
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
}
