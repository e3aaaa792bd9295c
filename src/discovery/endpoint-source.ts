/**
 * Where a language's runtime endpoints come from. A source reports each language's whole current
 * set of `host:port` addresses whenever it changes; the runtime pools (src/rpc/runtime-pool.ts)
 * add and drain endpoints to match. Static lists and Kubernetes EndpointSlices are two sources.
 */
import type { Language } from '../runtimes/runtime.js';

/** The complete set of a language's endpoints that may take new calls (ready, not terminating). */
export type EndpointsListener = (language: Language, addresses: readonly string[]) => void;

export interface EndpointSource {
  /** Starts reporting; resolves once the first full set of every watched language was reported (or failed, reported in health). */
  start(listener: EndpointsListener): Promise<void>;
  stop(): Promise<void>;
  /** For /health: whether the source is in sync, and what it last saw. */
  health(): { readonly status: 'up' | 'degraded' | 'unavailable'; readonly reason?: string; readonly details?: Readonly<Record<string, unknown>> };
}
