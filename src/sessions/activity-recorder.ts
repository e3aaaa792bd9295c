/**
 * Execution counters of sessions, counted in memory and written to PostgreSQL behind the response
 * path. Executions of one session between two writes become one row update, so memory is bounded
 * by the number of sessions, not of executions, even while the database is down; a failed write
 * is merged back and retried with backoff.
 */
import type { Logger } from '../observability/logger.js';
import type { SessionActivity } from './session.js';

export interface ActivityRecorderOptions {
  readonly write: (batch: readonly SessionActivity[]) => Promise<void>;
  readonly intervalMs: number;
  readonly logger: Logger;
}

function merge(a: SessionActivity, b: SessionActivity): SessionActivity {
  return {
    requestId: a.requestId,
    executions: a.executions + b.executions,
    lastExecutedAt: a.lastExecutedAt > b.lastExecutedAt ? a.lastExecutedAt : b.lastExecutedAt,
    completed: a.completed || b.completed,
  };
}

export class ActivityRecorder {
  readonly #o: ActivityRecorderOptions;
  #pending = new Map<string, SessionActivity>();
  /** The batch being written: still counted by `pending` until the write lands. */
  #writing: Map<string, SessionActivity> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;

  constructor(options: ActivityRecorderOptions) {
    this.#o = options;
  }

  /** This session's executions not yet written (as far as this replica knows). */
  pending(requestId: string): SessionActivity | undefined {
    const queued = this.#pending.get(requestId);
    const writing = this.#writing?.get(requestId);
    return queued && writing ? merge(writing, queued) : (queued ?? writing);
  }

  /** Sessions with counters not yet written. */
  get depth(): number {
    return this.#pending.size;
  }

  add(activity: SessionActivity): void {
    const prev = this.#pending.get(activity.requestId);
    this.#pending.set(activity.requestId, prev ? merge(prev, activity) : activity);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    const delay = Math.min(this.#o.intervalMs * 2 ** Math.min(this.#failures, 5), 5000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delay);
    this.#timer.unref();
  }

  /**
   * Writes what is pending, including what arrives while a write is under way (a caller joining a
   * flush in progress must not return before its own counters are written). Stops at a failure,
   * leaving the rest to the retry. Never rejects.
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#writeAll().finally(() => {
      this.#flushing = undefined;
      if (this.#pending.size > 0) this.#schedule();
    });
    return this.#flushing;
  }

  async #writeAll(): Promise<void> {
    while (this.#pending.size > 0) {
      const failures = this.#failures;
      await this.#write();
      if (this.#failures > failures) return;
    }
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#writing = batch;
    try {
      await this.#o.write([...batch.values()]);
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      for (const [id, activity] of batch) {
        const newer = this.#pending.get(id);
        this.#pending.set(id, newer ? merge(activity, newer) : activity);
      }
      this.#o.logger.warn({ err: error, sessions: this.#pending.size }, 'session counters not written; will retry');
    } finally {
      this.#writing = undefined;
    }
  }

  /** Flushes until written or `deadlineMs` passes; returns the sessions whose counters were not written. */
  async stop(deadlineMs: number): Promise<number> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.#pending.size > 0 && Date.now() < deadline) {
      const before = this.#failures;
      await this.flush();
      if (this.#failures > before) await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
    return this.#pending.size;
  }
}
