import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SingleFlight } from './single-flight.js';

describe('SingleFlight', () => {
  it('concurrent calls of one key share one run; other keys and later calls run their own', async () => {
    const flight = new SingleFlight<string, number>();
    let runs = 0;
    let release!: (n: number) => void;
    const held = (): Promise<number> => {
      runs++;
      return new Promise((resolve) => (release = resolve));
    };
    const a = flight.run('a', held);
    const b = flight.run('a', held);
    assert.equal(runs, 1);
    assert.equal(flight.size, 1);
    release(7);
    assert.deepEqual(await Promise.all([a, b]), [7, 7]);
    assert.equal(flight.size, 0);
    assert.equal(await flight.run('a', () => Promise.resolve(8)), 8, 'a settled run is not reused');
  });

  it('a failed run fails every caller of it and is forgotten', async () => {
    const flight = new SingleFlight<string, number>();
    const failing = (): Promise<number> => Promise.reject(new Error('compile failed'));
    await Promise.all([assert.rejects(flight.run('k', failing), /compile failed/), assert.rejects(flight.run('k', failing), /compile failed/)]);
    assert.equal(await flight.run('k', () => Promise.resolve(1)), 1);
  });
});
