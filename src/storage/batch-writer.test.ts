import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../../test/helpers/wait.js';
import { createSilentLogger } from '../observability/logger.js';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';

/**
 * A store like the request log table: ignores ids it has, can be switched off like a database
 * that went away, and can hold its writes open (a slow commit) until released.
 */
class TestStore {
  up = true;
  readonly rows = new Map<number, number>();
  readonly batches: number[][] = [];
  #held: { release: () => void; promise: Promise<void> } | undefined;
  writes = 0;
  failed = 0;

  hold(): void {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.#held = { release, promise };
  }

  release(): void {
    const held = this.#held;
    this.#held = undefined;
    held?.release();
  }

  async write(batch: readonly number[]): Promise<void> {
    this.writes++;
    const held = this.#held;
    if (held) await held.promise;
    else await Promise.resolve();
    if (!this.up) {
      this.failed++;
      throw new Error('connection refused');
    }
    this.batches.push([...batch]);
    for (const id of batch) this.rows.set(id, (this.rows.get(id) ?? 0) + 1);
  }

  /** Every id of 0..n-1 exactly once, nothing else. */
  assertExactlyOnce(n: number): void {
    const missing = [];
    for (let i = 0; i < n; i++) if (this.rows.get(i) !== 1) missing.push(`${i}×${this.rows.get(i) ?? 0}`);
    assert.deepEqual(missing, [], 'items not written exactly once');
    assert.equal(this.rows.size, n);
  }
}

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function spoolDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lm-spool-'));
  dirs.push(dir);
  return dir;
}

function writer(store: TestStore, dir: string | undefined, overrides: Partial<BatchWriterOptions<number>> = {}): BatchWriter<number> {
  return new BatchWriter<number>({
    name: 'test',
    logger: createSilentLogger(),
    intervalMs: 5,
    batchSize: 20,
    concurrency: 2,
    maxQueued: 100,
    maxInMemory: 50,
    ...(dir ? { spool: { dir, encode: (n: number) => n, decode: (raw: unknown) => raw as number } } : {}),
    write: (batch) => store.write(batch),
    ...overrides,
  });
}

async function drain(w: BatchWriter<number>): Promise<void> {
  while (w.depth > 0) await w.flush();
}

describe('BatchWriter', () => {
  it('writes full batches as soon as they fill, and the rest without being asked', async () => {
    const store = new TestStore();
    const w = writer(store, undefined);
    for (let i = 0; i < 45; i++) w.add(i);
    // Two full batches started at once (concurrency 2); the last 5 go with the interval timer.
    assert.equal(store.writes, 2);
    await waitFor('the partial batch to be written by the timer', () => store.rows.size === 45);
    assert.deepEqual(
      store.batches.map((b) => b.length),
      [20, 20, 5],
    );
    store.assertExactlyOnce(45);
    assert.equal(await w.stop(100), 0);
  });

  it('flush writes what was added while every job slot was busy (the lost-log-row race)', async () => {
    const store = new TestStore();
    const w = writer(store, undefined, { concurrency: 1, intervalMs: 60_000 });
    store.hold();
    w.add(1);
    const first = w.flush();
    assert.equal(store.writes, 1, 'the first item is being written, held open');
    w.add(2); // queued behind it: not a full batch
    const second = w.flush();
    store.release();
    await Promise.all([first, second]);
    assert.deepEqual([...store.rows.entries()].sort(), [[1, 1], [2, 1]], 'the item queued behind the busy slot is written by the flush, once');
    assert.equal(await w.stop(100), 0);
  });

  it('never drops or skips an item when spilling while a batch is being written (the lost-row race)', async () => {
    const dir = await spoolDir();
    const store = new TestStore();
    const w = writer(store, dir, { batchSize: 5, maxInMemory: 10, concurrency: 1 });
    await w.start();
    store.hold();
    for (let i = 0; i < 5; i++) w.add(i);
    assert.equal(store.writes, 1, 'the first batch is being written, held open');
    // Far past the in-memory bound while that write is open: the oldest queued items spill.
    for (let i = 5; i < 60; i++) w.add(i);
    await waitFor('spool files on disk', async () => (await readdir(dir)).some((f) => f.endsWith('.jsonl')));
    assert.equal(w.depth, 60, 'every item is counted somewhere: in flight, queued or spooled');
    store.release();
    await drain(w);
    assert.deepEqual(store.batches[0], [0, 1, 2, 3, 4], 'the held batch was the first five');
    store.assertExactlyOnce(60);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(w.dropped, 0);
    assert.equal(await w.stop(100), 0);
  });

  it('a held write that fails puts its batch back; nothing lost, nothing doubled, also with spilling meanwhile', async () => {
    const dir = await spoolDir();
    const store = new TestStore();
    const w = writer(store, dir, { batchSize: 5, maxInMemory: 10 });
    await w.start();
    store.hold();
    store.up = false;
    for (let i = 0; i < 10; i++) w.add(i);
    assert.equal(store.writes, 2, 'two batches in flight');
    for (let i = 10; i < 40; i++) w.add(i);
    store.release();
    await waitFor('both held writes to have failed', () => store.failed >= 2);
    assert.equal(w.depth, 40);
    assert.equal(store.batches.length, 0);
    store.up = true;
    await drain(w);
    store.assertExactlyOnce(40);
    assert.equal(await w.stop(100), 0);
  });

  it('without a spool, bounds memory by dropping and counting', async () => {
    const store = new TestStore();
    store.up = false;
    const w = writer(store, undefined);
    for (let i = 0; i < 150; i++) w.add(i);
    assert.equal(w.depth, 100);
    assert.equal(w.dropped, 50);
    await w.stop(0);
  });

  it('spools to disk while the store is down and writes every item exactly once when it returns', async () => {
    const dir = await spoolDir();
    const store = new TestStore();
    store.up = false;
    const w = writer(store, dir);
    await w.start();
    for (let i = 0; i < 500; i++) w.add(i);
    assert.equal(w.depth, 500);
    await waitFor('rows on disk', async () => (await readdir(dir)).length > 0);
    store.up = true;
    await drain(w);
    store.assertExactlyOnce(500);
    assert.equal(w.depth, 0);
    assert.deepEqual(await readdir(dir), []);
    await w.stop(100);
  });

  it('keeps what it could not write at shutdown on disk, a write that never answered included, for the next start', async () => {
    const dir = await spoolDir();
    const store = new TestStore();
    const first = writer(store, dir);
    await first.start();
    store.hold();
    for (let i = 0; i < 30; i++) first.add(i);
    assert.equal(store.writes, 1, 'a full batch is being written and never answers');
    assert.equal(await first.stop(20), 0, 'nothing lost');
    store.up = true;
    const freshStore = new TestStore();
    const second = writer(freshStore, dir);
    await second.start();
    assert.equal(second.depth, 30);
    await drain(second);
    freshStore.assertExactlyOnce(30);
    assert.equal(await second.stop(100), 0);
    store.release();
  });

  it('a spool line that does not decode is counted as lost and does not block the lines after it', async () => {
    const dir = await spoolDir();
    await writeFile(join(dir, '000000000000001-000000000.jsonl'), '1\n{broken\n2\n');
    await writeFile(join(dir, '000000000000002-000000000.jsonl'), '3\n');
    const store = new TestStore();
    const w = writer(store, dir);
    await w.start();
    await drain(w);
    assert.deepEqual([...store.rows.keys()].sort(), [1, 2, 3]);
    assert.equal(w.dropped, 1);
    assert.deepEqual(await readdir(dir), []);
    await w.stop(100);
  });

  it('an item added after stop goes to the spool, not nowhere', async () => {
    const dir = await spoolDir();
    const store = new TestStore();
    const w = writer(store, dir);
    await w.start();
    assert.equal(await w.stop(100), 0);
    w.add(7);
    await waitFor('the late item on disk', async () => (await readdir(dir)).some((f) => f.endsWith('.jsonl')));
    const next = writer(store, dir);
    await next.start();
    await drain(next);
    assert.deepEqual([...store.rows.keys()], [7]);
    await next.stop(100);
  });
});
