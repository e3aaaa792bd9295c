import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createScriptCache } from './script-cache.js';

describe('script cache', () => {
  it('bounds the scripts by count and bytes, least recently used out first, disposing each that leaves', () => {
    const gone: string[] = [];
    const cache = createScriptCache<{ bytes: number }>(3, 100, (_script, hash) => gone.push(hash));
    cache.set('a', { bytes: 40 });
    cache.set('b', { bytes: 40 });
    cache.get('a');
    cache.set('c', { bytes: 40 });
    assert.deepEqual([...cache.keys()].sort(), ['a', 'c'], 'over the byte bound: b, the least recently used, left');
    cache.set('d', { bytes: 1 });
    cache.set('e', { bytes: 1 });
    assert.equal(cache.size, 3, 'the count bound');
    assert.deepEqual(gone, ['b', 'a']);
  });

  it('keeps the newest script even when it alone is over the byte bound', () => {
    const cache = createScriptCache<{ bytes: number }>(10, 100);
    cache.set('small', { bytes: 10 });
    cache.set('huge', { bytes: 500 });
    assert.deepEqual([...cache.keys()], ['huge']);
    cache.set('next', { bytes: 10 });
    assert.deepEqual([...cache.keys()], ['next']);
  });
});
