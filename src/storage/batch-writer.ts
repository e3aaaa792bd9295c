/**
 * Write-behind for rows that must reach the database but must not add a round trip to the
 * response path: items queue in memory and are written in batches, every `intervalMs` or as soon
 * as `batchSize` are waiting. A failed batch stays at the head of the queue and is retried, so
 * nothing is lost while the process lives; `stop()` flushes what is left.
 */
import type { Logger } from '../observability/logger.js';

export interface BatchWriterOptions<T> {
  readonly name: string;
  readonly write: (batch: readonly T[]) => Promise<void>;
  readonly intervalMs: number;
  readonly batchSize: number;
  /** Beyond this many queued items new ones are dropped (and counted): memory stays bounded. */
  readonly maxQueued: number;
  readonly logger: Logger;
  readonly onDrop?: (count: number) => void;
}

export class BatchWriter<T> {
  readonly #options: BatchWriterOptions<T>;
  #queue: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;
  #dropped = 0;

  constructor(options: BatchWriterOptions<T>) {
    this.#options = options;
  }

  get depth(): number {
    return this.#queue.length;
  }

  get dropped(): number {
    return this.#dropped;
  }

  add(item: T): void {
    if (this.#queue.length >= this.#options.maxQueued) {
      this.#dropped++;
      this.#options.onDrop?.(1);
      return;
    }
    this.#queue.push(item);
    if (this.#queue.length >= this.#options.batchSize && !this.#flushing) void this.flush();
    else this.#schedule();
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    // Back off while the database is failing, up to ~5 s between attempts.
    const delay = Math.min(this.#options.intervalMs * 2 ** Math.min(this.#failures, 5), 5000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delay);
    this.#timer.unref();
  }

  /** Writes everything queued so far (one batch at a time). Never rejects. */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
      if (this.#queue.length > 0) this.#schedule();
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#options.batchSize);
      try {
        await this.#options.write(batch);
        this.#queue.splice(0, batch.length);
        this.#failures = 0;
      } catch (error) {
        this.#failures++;
        this.#options.logger.warn({ err: error, writer: this.#options.name, queued: this.#queue.length }, 'batch write failed; will retry');
        return;
      }
    }
  }

  /** Flushes until empty or until `deadlineMs` passes; returns how many items could not be written. */
  async stop(deadlineMs: number): Promise<number> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.#queue.length > 0 && Date.now() < deadline) {
      const before = this.#failures;
      await this.flush();
      if (this.#failures > before) await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
    if (this.#queue.length > 0) {
      this.#options.logger.error({ writer: this.#options.name, lost: this.#queue.length }, 'could not write queued rows before shutdown');
    }
    return this.#queue.length;
  }
}
