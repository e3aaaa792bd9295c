import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MemoryModuleStore } from '../kit/module-store.js';

const module = (bytes: number, fill: number) => ({ module: new Uint8Array(bytes).fill(fill), toolchain: 't' });

describe('MemoryModuleStore', () => {
  it('keeps the modules within its byte bound, least recently used out first, the newest kept', async () => {
    const store = new MemoryModuleStore(100);
    for (let n = 0; n < 10; n++) await store.put(`k${n}`, module(30, n));
    const kept = await Promise.all(Array.from({ length: 10 }, (_, n) => store.get(`k${n}`)));
    assert.deepEqual(
      kept.map((stored) => stored !== undefined),
      [false, false, false, false, false, false, false, true, true, true],
      'three modules of 30 bytes fit in 100; the seven older ones left',
    );
    assert.deepEqual(kept[9]?.module, new Uint8Array(30).fill(9));

    await store.get('k7');
    await store.put('k10', module(30, 10));
    assert.ok(await store.get('k7'), 'a module read is used: k8, the least recently used, left instead');
    assert.equal(await store.get('k8'), undefined);
    assert.ok(await store.get('k10'));
  });

  it('keeps its own copy, and the first module put under a key', async () => {
    const store = new MemoryModuleStore(100);
    const first = module(10, 1);
    await store.put('k', first);
    first.module.fill(7);
    await store.put('k', module(10, 2));
    assert.deepEqual((await store.get('k'))?.module, new Uint8Array(10).fill(1));
  });

  it('does not keep a module larger than the whole bound', async () => {
    const store = new MemoryModuleStore(100);
    await store.put('small', module(10, 1));
    await store.put('huge', module(101, 2));
    assert.equal(await store.get('huge'), undefined);
    assert.ok(await store.get('small'));
  });
});
