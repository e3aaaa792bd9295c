/**
 * The sessions this replica keeps in memory for the warm execute path, least recently used first.
 * A session dropped from here for good (ended, expired, evicted) also has its warm runtime state
 * released; one only invalidated by another replica keeps it, since it is reloaded on its next use.
 */
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { SessionRecord } from './session.js';

/** Mutable in-memory state of an active session: what the warm path reads. */
export interface HotSession {
  record: SessionRecord;
  executionCount: number;
  lastExecutedAt: Date | null;
  /** Set as soon as a `retain_session: false` session has been claimed by an execute. */
  ended: boolean;
}

export class HotSessions {
  readonly #sessions = new Map<string, HotSession>();
  readonly #runtimes: RuntimeRegistry;
  readonly #max: number;

  constructor(runtimes: RuntimeRegistry, max: number) {
    this.#runtimes = runtimes;
    this.#max = max;
  }

  get(id: string): HotSession | undefined {
    return this.#sessions.get(id);
  }

  /** The session for a use: it becomes the most recently used. */
  use(id: string): HotSession | undefined {
    const hot = this.#sessions.get(id);
    if (hot) {
      this.#sessions.delete(id);
      this.#sessions.set(id, hot);
    }
    return hot;
  }

  /** Keeps `hot`, forgetting the least recently used beyond the bound. */
  add(hot: HotSession): void {
    this.#sessions.set(hot.record.requestId, hot);
    while (this.#sessions.size > this.#max) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.forget(oldest);
    }
  }

  /** Drops the session and releases its runtime state. */
  forget(id: string): void {
    const hot = this.#sessions.get(id);
    if (!hot) return;
    this.#sessions.delete(id);
    this.release(hot);
  }

  /** Forgets every session past its expiry at `now`. */
  forgetExpired(now: Date): void {
    for (const [id, hot] of this.#sessions) if (hot.record.expiresAt <= now) this.forget(id);
  }

  /**
   * Drops the copy another replica invalidated, its runtime state kept. An ended copy stays: it is
   * what refuses a second execute here until the sweep.
   */
  invalidate(id: string): void {
    const hot = this.#sessions.get(id);
    if (hot && !hot.ended) this.#sessions.delete(id);
  }

  /** Drops every copy, runtime state kept (invalidations may have been missed). */
  clear(): void {
    this.#sessions.clear();
  }

  /** Releases the session's warm state in its runtime. */
  release(hot: HotSession): void {
    try {
      this.#runtimes.get(hot.record.language).release(hot.record.requestId);
    } catch {
      // Runtime gone or unavailable: it holds no warm state for this session either.
    }
  }
}
