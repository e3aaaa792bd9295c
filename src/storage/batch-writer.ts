/**
 * Write-behind for rows that must reach the database but must not add a round trip to the
 * response path: items queue in memory and are written in batches, as soon as `batchSize` are
 * waiting (up to `concurrency` batches at once) or every `intervalMs`. A failed batch goes back
 * to the head of the queue and is retried with backoff, so a database that is down for a while
 * loses nothing; `stop()` flushes what is left.
 *
 * Every item is in exactly one place at any time: the in-memory queue, one batch being written,
 * or one spool file. A batch being written is taken out of the queue first (so spilling, which
 * only takes from the queue, can never touch it), and only a failed write puts it back. That is
 * what keeps an item from being dropped or skipped, whatever the timing of adds, writes and spills.
 *
 * Memory stays bounded: with a spool, items beyond `maxInMemory` move (oldest first) to files in
 * the spool directory and are written before newer ones, also after a restart; without one, items
 * beyond `maxQueued` are dropped and counted. Writes must be idempotent (the request log store
 * ignores ids it already has), since a batch whose commit answer was lost is written again.
 */
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IdleWaiters } from '../common/idle.js';
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
  /** Batches written at once while the store answers; one probe at a time while it fails. */
  readonly concurrency: number;
  /** Without a spool: beyond this many queued items new ones are dropped (and counted). */
  readonly maxQueued: number;
  /** With a spool: beyond this many items in memory the oldest go to disk. */
  readonly maxInMemory?: number;
  readonly spool?: SpoolOptions<T>;
  readonly logger: Logger;
  readonly onDrop?: (count: number) => void;
  /** Called with the size of every batch the store accepted. */
  readonly onWritten?: (count: number) => void;
}

/** How many times `batchSize` one batch may hold when a backlog has built up. */
const BACKLOG_BATCHES = 10;

/** A spool file not yet written to the store; `ready` settles once the file is on disk. */
interface SpoolEntry {
  readonly file: string;
  readonly count: number;
  ready: Promise<boolean>;
  /** Being written by a job. */
  claimed: boolean;
}

/** One unit of writing: a batch from memory or one spool file. */
type Job<T> = { kind: 'memory'; items: T[] } | { kind: 'spool'; entry: SpoolEntry };

export class BatchWriter<T> {
  readonly #options: BatchWriterOptions<T>;
  readonly #concurrency: number;
  #queue: T[] = [];
  readonly #jobs = new Set<Job<T>>();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  #dropped = 0;
  /** Resolved whenever no job is running. */
  readonly #idle = new IdleWaiters();
  /** Spool files not yet written to the database, oldest first. */
  readonly #spooled: SpoolEntry[] = [];
  #spoolWrites: Promise<unknown> = Promise.resolve();
  #spoolSeq = 0;

  constructor(options: BatchWriterOptions<T>) {
    this.#options = options;
    this.#concurrency = Math.max(1, options.concurrency);
  }

  /** Picks up spool files a previous run left (the database was down when it stopped). */
  async start(): Promise<void> {
    const spool = this.#options.spool;
    if (!spool) return;
    await mkdir(spool.dir, { recursive: true });
    const files = (await readdir(spool.dir)).filter((f) => f.endsWith('.jsonl')).sort();
    for (const file of files) {
      const count = (await readFile(join(spool.dir, file), 'utf8')).split('\n').filter(Boolean).length;
      this.#spooled.push({ file, count, ready: Promise.resolve(true), claimed: false });
    }
    if (files.length > 0) {
      this.#options.logger.info({ writer: this.#options.name, files: files.length }, 'spooled rows from an earlier run will be written');
      this.#schedule();
    }
  }

  /** Items not yet written: queued in memory, being written, and spooled to disk. */
  get depth(): number {
    let depth = this.#inMemory();
    for (const entry of this.#spooled) depth += entry.count;
    return depth;
  }

  /** Items held in memory: queued, and in batches being written. */
  #inMemory(): number {
    let count = this.#queue.length;
    for (const job of this.#jobs) if (job.kind === 'memory') count += job.items.length;
    return count;
  }

  get dropped(): number {
    return this.#dropped;
  }

  add(item: T): void {
    const { spool, maxInMemory, maxQueued, batchSize } = this.#options;
    if (spool && maxInMemory !== undefined) {
      if (this.#inMemory() >= maxInMemory) this.#spill(this.#queue.splice(0, batchSize));
    } else if (this.#inMemory() >= maxQueued) {
      this.#drop(1);
      return;
    }
    this.#queue.push(item);
    if (this.#stopped) {
      // Late (after stop): straight to disk where there is a spool; counted as lost otherwise.
      if (spool) this.#spill(this.#queue.splice(0));
      return;
    }
    if (this.#queue.length >= batchSize) this.#pump('full');
    this.#schedule();
  }

  #drop(count: number): void {
    this.#dropped += count;
    this.#options.onDrop?.(count);
  }

  /** Moves items to a new spool file; file writes are serialised so their order is kept. */
  #spill(items: T[]): SpoolEntry | undefined {
    const spool = this.#options.spool;
    if (!spool || items.length === 0) return undefined;
    const file = `${Date.now().toString().padStart(15, '0')}-${String(this.#spoolSeq++).padStart(9, '0')}.jsonl`;
    const text = `${items.map((item) => JSON.stringify(spool.encode(item))).join('\n')}\n`;
    const entry: SpoolEntry = { file, count: items.length, ready: Promise.resolve(false), claimed: false };
    entry.ready = this.#spoolWrites.then(async () => {
      try {
        await mkdir(spool.dir, { recursive: true });
        const path = join(spool.dir, file);
        await writeFile(`${path}.tmp`, text);
        await rename(`${path}.tmp`, path);
        return true;
      } catch (error) {
        // Disk and database both failing: these items cannot be kept anywhere.
        this.#forget(entry);
        this.#drop(items.length);
        this.#options.logger.error({ err: error, writer: this.#options.name, lost: items.length }, 'could not spool rows to disk');
        return false;
      }
    });
    this.#spoolWrites = entry.ready;
    this.#spooled.push(entry);
    return entry;
  }

  #forget(entry: SpoolEntry): void {
    const index = this.#spooled.indexOf(entry);
    if (index >= 0) this.#spooled.splice(index, 1);
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    // Back off while the database is failing, up to ~5 s between attempts.
    const delay = Math.min(this.#options.intervalMs * 2 ** Math.min(this.#failures, 5), 5000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump('any');
    }, delay);
    this.#timer.unref();
  }

  /**
   * Starts jobs while there is room: `full` (after an add or a finished write) only for full
   * batches and spool files, so steady load is written in full batches back to back; `any` (the
   * interval timer, `flush`) for whatever waits. While the store fails only `any` starts a job,
   * one at a time, as a probe; its success lets the rest follow.
   */
  #pump(mode: 'full' | 'any'): void {
    if (this.#failures > 0 && mode === 'full') return;
    const limit = this.#failures > 0 ? 1 : this.#concurrency;
    while (this.#jobs.size < limit) {
      const job = this.#take(mode);
      if (!job) break;
      this.#jobs.add(job);
      void this.#run(job);
    }
    if (this.#jobs.size === 0) this.#idle.notify();
  }

  /** The next unit of work: the oldest spool file first, then a batch from the head of the queue. */
  #take(mode: 'full' | 'any'): Job<T> | undefined {
    const entry = this.#spooled.find((e) => !e.claimed);
    if (entry) {
      entry.claimed = true;
      return { kind: 'spool', entry };
    }
    const { batchSize } = this.#options;
    if (this.#queue.length === 0 || (mode === 'full' && this.#queue.length < batchSize)) return undefined;
    // A backlog goes in bigger batches (up to BACKLOG_BATCHES × batchSize): on a saturated event
    // loop each batch costs a few turns of it, whatever its size, so fewer batches keep up.
    const take = Math.min(this.#queue.length, batchSize * BACKLOG_BATCHES, Math.max(batchSize, Math.floor(this.#queue.length / this.#concurrency)));
    return { kind: 'memory', items: this.#queue.splice(0, take) };
  }

  async #run(job: Job<T>): Promise<void> {
    try {
      if (job.kind === 'memory') {
        await this.#options.write(job.items);
        this.#options.onWritten?.(job.items.length);
      } else {
        await this.#writeSpooled(job.entry);
      }
      this.#failures = 0;
    } catch (error) {
      // Back where it came from: a batch to the head of the queue, a file to be taken again.
      if (job.kind === 'memory') this.#queue.unshift(...job.items);
      else job.entry.claimed = false;
      this.#failures++;
      this.#options.logger.warn({ err: error, writer: this.#options.name, queued: this.depth }, 'batch write failed; will retry');
    } finally {
      this.#jobs.delete(job);
      if (!this.#stopped) this.#pump('full');
      if (this.#jobs.size === 0) {
        this.#idle.notify();
        if (this.depth > 0) this.#schedule();
      }
    }
  }

  /** Writes one spool file's items (in batches), then deletes it. A line that does not decode is lost, said so, and skipped. */
  async #writeSpooled(entry: SpoolEntry): Promise<void> {
    const spool = this.#options.spool as SpoolOptions<T>;
    if (!(await entry.ready)) return;
    const path = join(spool.dir, entry.file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.#forget(entry);
      this.#drop(entry.count);
      this.#options.logger.error({ writer: this.#options.name, file: entry.file, lost: entry.count }, 'spool file disappeared before it was written');
      return;
    }
    const items: T[] = [];
    let unreadable = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        items.push(spool.decode(JSON.parse(line)));
      } catch {
        unreadable++;
      }
    }
    for (let i = 0; i < items.length; i += this.#options.batchSize) {
      const batch = items.slice(i, i + this.#options.batchSize);
      await this.#options.write(batch);
      this.#options.onWritten?.(batch.length);
    }
    await unlink(path);
    this.#forget(entry);
    if (unreadable > 0) {
      this.#drop(unreadable);
      this.#options.logger.error({ writer: this.#options.name, file: entry.file, lost: unreadable }, 'spool file lines that do not decode were skipped');
    }
  }

  /**
   * Writes what is queued (spooled first), retrying now even while backing off; resolves when no
   * write is running any more: everything is written, or an attempt failed. Never rejects.
   */
  async flush(): Promise<void> {
    // Items added while every job slot was busy are not a full batch, so the write that frees a
    // slot leaves them for the timer: pump again until they are written too, or a write failed.
    for (;;) {
      const idle = this.#idle.next();
      this.#pump('any');
      await idle;
      if (this.#failures > 0 || !this.#waiting()) return;
    }
  }

  /** Items queued in memory or in spool files that no write has taken yet. */
  #waiting(): boolean {
    return this.#queue.length > 0 || this.#spooled.some((e) => !e.claimed);
  }

  /**
   * Flushes until empty or until `deadlineMs` passes. What is not written then (queued, or in a
   * write that has not answered) goes to the spool, written by the next start; returns how many
   * items are lost (none with a spool, unless the disk fails too).
   */
  async stop(deadlineMs: number): Promise<number> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + deadlineMs;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const deadlinePassed = new Promise<void>((resolve) => {
      deadlineTimer = setTimeout(resolve, Math.max(0, deadlineMs));
    });
    try {
      while (this.depth > 0 && Date.now() < deadline) {
        const before = this.#failures;
        await Promise.race([this.flush(), deadlinePassed]);
        if (this.#failures > before) await Promise.race([new Promise((r) => setTimeout(r, 500)), deadlinePassed]);
      }
    } finally {
      clearTimeout(deadlineTimer);
    }
    // A write still running at the deadline may or may not commit: its items are kept too (writes are idempotent).
    const unwritten = [...this.#jobs].flatMap((job) => (job.kind === 'memory' ? job.items : [])).concat(this.#queue.splice(0));
    if (unwritten.length > 0 && this.#options.spool) {
      this.#options.logger.warn({ writer: this.#options.name, rows: unwritten.length }, 'database unavailable at shutdown; rows spooled to disk for the next start');
      const entry = this.#spill(unwritten);
      await this.#spoolWrites;
      return (await entry?.ready) ? 0 : unwritten.length;
    }
    if (unwritten.length > 0) this.#options.logger.error({ writer: this.#options.name, lost: unwritten.length }, 'could not write queued rows before shutdown');
    return unwritten.length;
  }
}
