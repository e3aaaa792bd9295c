import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineQueue } from './deadline-queue.js';

describe('DeadlineQueue', () => {
  it('hands values out oldest first', async () => {
    const queue = new DeadlineQueue<string, number>();
    const a = queue.wait('a', 10_000, () => new Error('expired'));
    const b = queue.wait('b', 10_000, () => new Error('expired'));
    assert.equal(queue.oldest(), 'a');
    assert.equal(queue.handOldest(1), true);
    assert.equal(queue.handOldest(2), true);
    assert.equal(queue.handOldest(3), false);
    assert.deepEqual(await Promise.all([a, b]), [1, 2]);
  });

  it('a call that waits longer than its time leaves the queue refused, and the hook runs after', async () => {
    const queue = new DeadlineQueue<string, number>();
    const keep = queue.wait('keep', 10_000, () => new Error('expired'));
    let hooked = false;
    await assert.rejects(
      queue.wait('late', 1, (queued) => new Error(`waited too long, ${queued} still queued`), () => (hooked = true)),
      /waited too long, 1 still queued/,
    );
    assert.equal(hooked, true);
    assert.equal(queue.length, 1);
    queue.rejectAll((item) => new Error(`stopped: ${item}`));
    await assert.rejects(keep, /stopped: keep/);
    assert.equal(queue.length, 0);
  });

  it('handOut gives values to the calls it can serve, oldest first, and keeps the others in order', async () => {
    const queue = new DeadlineQueue<string, string>();
    const calls = ['busy-a', 'free-b', 'busy-c', 'free-d'].map((item) => queue.wait(item, 10_000, () => new Error('expired')));
    assert.equal(queue.handOut((item) => (item.startsWith('free') ? `worker for ${item}` : undefined)), 2);
    assert.equal(queue.length, 2);
    assert.equal(queue.oldest(), 'busy-a');
    assert.equal(await calls[1], 'worker for free-b');
    assert.equal(await calls[3], 'worker for free-d');
    queue.rejectAll(() => new Error('stopped'));
    await Promise.allSettled(calls);
  });
});
