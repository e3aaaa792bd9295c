import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdleWaiters, waitAtMost } from './idle.js';

describe('IdleWaiters and waitAtMost', () => {
  it('every waiter is resolved by the next notify, and only then', async () => {
    const idle = new IdleWaiters();
    let resolved = 0;
    const waits = [idle.next(), idle.next()].map((p) => p.then(() => resolved++));
    assert.equal(idle.waiting, true);
    await Promise.resolve();
    assert.equal(resolved, 0);
    idle.notify();
    await Promise.all(waits);
    assert.equal(resolved, 2);
    assert.equal(idle.waiting, false);
  });

  it('waitAtMost says whether the work finished within the grace period', async () => {
    assert.equal(await waitAtMost(Promise.resolve(), 1000), true);
    assert.equal(await waitAtMost(new Promise(() => undefined), 1), false);
  });
});
