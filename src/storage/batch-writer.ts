/**
 * Write-behind for rows that must reach the database but must not add a round trip to the
 * response path: items queue in memory and are written in batches, every `intervalMs` or as soon
 * as `batchSize` are waiting. A failed batch stays queued and is retried with backoff, so a
 * database that is down for a while loses nothing; `stop()` flushes what is left.
 *
 * Memory stays bounded: with a spool, items beyond `maxInMemory` move (oldest first) to files in
 * the spool directory and are written back before newer ones, also after a restart; without one,
 * items beyond `maxQueued` are dropped and counted. Writes must be idempotent (the request log
 * store ignores ids it already has), since a batch whose commit answer was lost is written again.
 */
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';

export interface SpoolOptions<T> {
  readonly dir: string;
  readonly encode: (item: T) => unknown;
  readonly decode: (raw: unknown) => T;
}

export interface BatchWriterOptions<T> {
  readonly name: string;
  readonly write: (batch: readonly T[]) => Promise<void>;
  readonly intervalMs: number;
  readonly batchSize: number;
  /** Without a spool: beyond this many queued items new ones are dropped (and counted). */
  readonly maxQueued: number;
  /** With a spool: beyond this many items in memory the oldest go to disk. */
  readonly maxInMemory?: number;
  readonly spool?: SpoolOptions<T>;
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
  /** Spool files not yet written to the database, oldest first, with their item counts. */
  #spooled: { file: string; count: number }[] = [];
  #spoolWrites: Promise<void> = Promise.resolve();
  #spoolSeq = 0;

  constructor(options: BatchWriterOptions<T>) {
    this.#options = options;
  }

  /** Picks up spool files a previous run left (the database was down when it stopped). */
  async start(): Promise<void> {
    const spool = this.#options.spool;
    if (!spool) return;
    await mkdir(spool.dir, { recursive: true });
    const files = (await readdir(spool.dir)).filter((f) => f.endsWith('.jsonl')).sort();
    for (const file of files) {
      const count = (await readFile(join(spool.dir, file), 'utf8')).split('\n').filter(Boolean).length;
      this.#spooled.push({ file, count });
    }
    if (files.length > 0) {
      this.#options.logger.info({ writer: this.#options.name, files: files.length }, 'spooled rows from an earlier run will be written');
      this.#schedule();
    }
  }

  /** Items waiting: in memory and spooled to disk. */
  get depth(): number {
    return this.#queue.length + this.#spooled.reduce((sum, s) => sum + s.count, 0);
  }

  get dropped(): number {
    return this.#dropped;
  }

  add(item: T): void {
    const { spool, maxInMemory, maxQueued, batchSize } = this.#options;
    if (spool && maxInMemory !== undefined) {
      if (this.#queue.length >= maxInMemory) this.#spill(this.#queue.splice(0, batchSize));
    } else if (this.#queue.length >= maxQueued) {
      this.#dropped++;
      this.#options.onDrop?.(1);
      return;
    }
    this.#queue.push(item);
    if (this.#queue.length >= batchSize && !this.#flushing && this.#failures === 0) void this.flush();
    else this.#schedule();
  }

  /** Moves items to a new spool file; file writes are serialised so their order is kept. */
  #spill(items: T[]): void {
    const spool = this.#options.spool;
    if (!spool || items.length === 0) return;
    const file = `${Date.now().toString().padStart(15, '0')}-${String(this.#spoolSeq++).padStart(9, '0')}.jsonl`;
    const entry = { file, count: items.length };
    this.#spooled.push(entry);
    const text = `${items.map((item) => JSON.stringify(spool.encode(item))).join('\n')}\n`;
    this.#spoolWrites = this.#spoolWrites.then(async () => {
      try {
        await mkdir(spool.dir, { recursive: true });
        const path = join(spool.dir, file);
        await writeFile(`${path}.tmp`, text);
        await rename(`${path}.tmp`, path);
      } catch (error) {
        this.#spooled.splice(this.#spooled.indexOf(entry), 1);
        this.#dropped += items.length;
        this.#options.onDrop?.(items.length);
        this.#options.logger.error({ err: error, writer: this.#options.name, lost: items.length }, 'could not spool rows to disk');
      }
    });
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

  /** Writes everything queued so far (spooled first, one batch at a time). Never rejects. */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
      if (this.depth > 0) this.#schedule();
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    try {
      await this.#drainSpool();
      while (this.#queue.length > 0) {
        const batch = this.#queue.slice(0, this.#options.batchSize);
        await this.#options.write(batch);
        this.#queue.splice(0, batch.length);
        this.#failures = 0;
      }
    } catch (error) {
      this.#failures++;
      this.#options.logger.warn({ err: error, writer: this.#options.name, queued: this.depth }, 'batch write failed; will retry');
    }
  }

  async #drainSpool(): Promise<void> {
    const spool = this.#options.spool;
    if (!spool) return;
    await this.#spoolWrites;
    while (this.#spooled.length > 0) {
      const entry = this.#spooled[0] as { file: string; count: number };
      const path = join(spool.dir, entry.file);
      const items = (await readFile(path, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => spool.decode(JSON.parse(line)));
      for (let i = 0; i < items.length; i += this.#options.batchSize) {
        await this.#options.write(items.slice(i, i + this.#options.batchSize));
      }
      await unlink(path);
      this.#spooled.shift();
      this.#failures = 0;
    }
  }

  /**
   * Flushes until empty or until `deadlineMs` passes. What is still in memory then goes to the
   * spool (written by the next start); returns how many items are lost (none with a spool).
   */
  async stop(deadlineMs: number): Promise<number> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.depth > 0 && Date.now() < deadline) {
      const before = this.#failures;
      await this.flush();
      if (this.#failures > before) await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
    if (this.#queue.length > 0 && this.#options.spool) {
      this.#options.logger.warn({ writer: this.#options.name, rows: this.#queue.length }, 'database unavailable at shutdown; rows spooled to disk for the next start');
      this.#spill(this.#queue.splice(0));
      await this.#spoolWrites;
    }
    const lost = this.#queue.length;
    if (lost > 0) this.#options.logger.error({ writer: this.#options.name, lost }, 'could not write queued rows before shutdown');
    return lost;
  }
}
