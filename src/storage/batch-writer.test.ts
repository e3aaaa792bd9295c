import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createSilentLogger } from '../observability/logger.js';
import { BatchWriter } from './batch-writer.js';

/** A store that can be switched off, like a database that went away; it ignores ids it has. */
class SwitchableStore {
  up = true;
  readonly rows = new Map<number, number>();
  writes = 0;
  async write(batch: readonly number[]): Promise<void> {
    await Promise.resolve();
    this.writes++;
    if (!this.up) throw new Error('connection refused');
    for (const id of batch) this.rows.set(id, (this.rows.get(id) ?? 0) + 1);
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

function writer(store: SwitchableStore, dir: string | undefined, maxInMemory = 50): BatchWriter<number> {
  return new BatchWriter<number>({
    name: 'test',
    logger: createSilentLogger(),
    intervalMs: 5,
    batchSize: 20,
    maxQueued: 100,
    maxInMemory,
    ...(dir ? { spool: { dir, encode: (n: number) => n, decode: (raw: unknown) => raw as number } } : {}),
    write: (batch) => store.write(batch),
  });
}

describe('BatchWriter', () => {
  it('writes every item once, in batches, without being asked', async () => {
    const store = new SwitchableStore();
    const w = writer(store, undefined);
    for (let i = 0; i < 45; i++) w.add(i);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(store.rows.size, 45);
    assert.ok(store.writes <= 4, `${store.writes} writes for 45 items`);
    assert.equal(await w.stop(100), 0);
  });

  it('without a spool, bounds memory by dropping and counting', async () => {
    const store = new SwitchableStore();
    store.up = false;
    const w = writer(store, undefined);
    for (let i = 0; i < 150; i++) w.add(i);
    assert.equal(w.depth, 100);
    assert.equal(w.dropped, 50);
    await w.stop(0);
  });

  it('spools to disk while the store is down and writes every item exactly once when it returns', async () => {
    const dir = await spoolDir();
    const store = new SwitchableStore();
    store.up = false;
    const w = writer(store, dir);
    await w.start();
    for (let i = 0; i < 500; i++) w.add(i);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(w.depth, 500);
    assert.ok((await readdir(dir)).length > 0, 'some rows are on disk');
    store.up = true;
    await w.flush();
    await w.flush();
    assert.equal(store.rows.size, 500);
    assert.ok([...store.rows.values()].every((n) => n === 1));
    assert.equal(w.depth, 0);
    assert.deepEqual(await readdir(dir), []);
    await w.stop(100);
  });

  it('keeps what it could not write at shutdown on disk, for the next start', async () => {
    const dir = await spoolDir();
    const store = new SwitchableStore();
    store.up = false;
    const first = writer(store, dir);
    await first.start();
    for (let i = 0; i < 30; i++) first.add(i);
    assert.equal(await first.stop(20), 0, 'nothing lost');
    store.up = true;
    const second = writer(store, dir);
    await second.start();
    assert.equal(second.depth, 30);
    await second.flush();
    assert.equal(store.rows.size, 30);
    assert.equal(await second.stop(100), 0);
  });
});
