/**
 * When a session's calls may be pipelined (pure, no V8 here): queued together on the isolate of its
 * warm context, which isolated-vm runs back to back for a fraction of a thread hand-off per call.
 * An isolate killed (memory, runaway script) takes the calls queued on it along, so only a session
 * that behaves gets this, and only its own calls share the queue. A session is hot once its last
 * PIPELINE_AFTER_FAST_CALLS invocations (ok or a thrown error) each ran within FAST_CALL_MS; a slow
 * call or an output_limit restarts the count; a timeout, memory kill, runtime failure or invocation
 * left pending bans it for good (until forgotten). A hot call joins the fullest isolate running its
 * context that has room, else it is placed alone like any call; the pool serves waiting calls oldest
 * first, so while the oldest needs an idle isolate, pipelines drain: a hot session starves no other.
 */
import { LRUCache } from 'lru-cache';

/** A session's calls are pipelined once this many invocations in a row were fast... */
export const PIPELINE_AFTER_FAST_CALLS = 4;
/** ...i.e. ran at most this many whole ms by the guest's `Date.now` (host event-loop lag cannot inflate it): under 2 ms. */
export const FAST_CALL_MS = 1;
/** Sessions whose conduct is remembered; a forgotten one earns pipelining again. */
const MAX_CONDUCT_SESSIONS = 10_000;

/** How one session's script has behaved. */
export interface Conduct {
  fastStreak: number;
  banned: boolean;
}

/** What the policy needs to know of an isolate. */
export interface PipelineSlot {
  readonly inFlight: number;
  /** The warm context whose calls are pipelined on it; undefined when it runs calls alone. */
  readonly pipelineKey: string | undefined;
  readonly alive: boolean;
  /** `hasLive(key)`: it holds `key`'s context and new calls may use it. */
  readonly contexts: { hasLive(key: string): boolean };
}

export class PipeliningPolicy {
  /** instanceKey -> scriptHash -> conduct, least recently used sessions forgotten first. */
  readonly #sessions = new LRUCache<string, Map<string, Conduct>>({ max: MAX_CONDUCT_SESSIONS });

  /** Calls of one context queued on an isolate at most; 1 runs every call alone. */
  constructor(readonly maxPipelined: number) {}

  conductOf(instanceKey: string, scriptHash: string): Conduct {
    let byScript = this.#sessions.get(instanceKey);
    if (!byScript) this.#sessions.set(instanceKey, (byScript = new Map()));
    let conduct = byScript.get(scriptHash);
    if (!conduct) byScript.set(scriptHash, (conduct = { fastStreak: 0, banned: false }));
    return conduct;
  }

  /** An invocation ended after `runMs` (whole ms by the guest's clock; anything else counts as slow). */
  record(conduct: Conduct, runMs: unknown): void {
    conduct.fastStreak = typeof runMs === 'number' && runMs <= FAST_CALL_MS ? Math.min(conduct.fastStreak + 1, PIPELINE_AFTER_FAST_CALLS) : 0;
  }

  ban(conduct: Conduct): void {
    conduct.banned = true;
  }

  isHot(conduct: Conduct | undefined): conduct is Conduct {
    return conduct !== undefined && this.maxPipelined > 1 && !conduct.banned && conduct.fastStreak >= PIPELINE_AFTER_FAST_CALLS;
  }

  /** The isolate a hot call of `key` joins: the fullest that pipelines `key` and has room. */
  pipelineFor<S extends PipelineSlot>(slots: readonly S[], key: string): S | undefined {
    let best: S | undefined;
    for (const slot of slots) {
      if (slot.pipelineKey !== key || slot.inFlight >= this.maxPipelined || !slot.alive || !slot.contexts.hasLive(key)) continue;
      if (!best || slot.inFlight > best.inFlight) best = slot;
    }
    return best;
  }

  forget(instanceKey: string): void {
    this.#sessions.delete(instanceKey);
  }
}
