import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';

import { Lifecycle } from './lifecycle.js';

const logger = pino({ level: 'silent' });
const lifecycle = (stopGraceMs = 10_000): Lifecycle => new Lifecycle({ language: 'python', name: 'the Python runtime', logger, stopGraceMs });

describe('Lifecycle', () => {
  it('new → starting → running → stopping → stopped, refusing calls outside running', async () => {
    const life = lifecycle();
    assert.match(life.reason, /not started/);
    assert.throws(() => life.assertRunning(), (error: Error & { code?: string }) => error.code === 'RUNTIME_UNAVAILABLE');
    let release!: () => void;
    const starting = life.start(() => new Promise<void>((resolve) => (release = resolve)));
    assert.equal(life.state, 'starting');
    release();
    await starting;
    assert.equal(life.state, 'running');
    assert.equal(life.notRunning(), undefined);
    await life.stop({ force: () => undefined });
    assert.equal(life.state, 'stopped');
    assert.deepEqual(life.notRunning({ workers: 0 }), { status: 'unavailable', reason: 'the Python runtime is stopped', details: { workers: 0 } });
  });

  it('a failed start is unavailable(reason), not a throw', async () => {
    const life = lifecycle();
    await life.start(() => Promise.reject(new Error('no python3 here')));
    assert.equal(life.state, 'unavailable');
    assert.equal(life.unavailable().message, 'the Python runtime cannot start: no python3 here');
    const custom = lifecycle();
    await custom.start(() => Promise.reject(new Error('x')), () => 'named reason');
    assert.equal(custom.reason, 'named reason');
  });

  it('a stop waits for the calls in flight, then forces; a second stop waits for the first', async () => {
    const life = lifecycle();
    await life.start(() => Promise.resolve());
    const events: string[] = [];
    let finish!: () => void;
    const call = life.track(() => new Promise<void>((resolve) => (finish = resolve)).then(() => events.push('call done')));
    const stopping = life.stop({ drain: () => events.push('drained'), force: () => void events.push('forced') });
    const again = life.stop({ force: () => void events.push('forced twice') });
    await Promise.resolve();
    assert.deepEqual(events, ['drained']);
    finish();
    await Promise.all([call, stopping, again]);
    assert.deepEqual(events, ['drained', 'call done', 'forced']);
  });

  it('the grace period bounds the wait for a call that does not finish', async () => {
    const life = lifecycle(1);
    await life.start(() => Promise.resolve());
    let forced = false;
    void life.track(() => new Promise<void>(() => undefined));
    await life.stop({ force: () => void (forced = true) });
    assert.equal(forced, true);
  });

  it('a stop during start waits for the start to settle before it forces; a never-started one forces nothing', async () => {
    const life = lifecycle();
    let release!: () => void;
    void life.start(() => new Promise<void>((resolve) => (release = resolve)));
    let forced = false;
    const stopping = life.stop({ force: () => void (forced = true) });
    await Promise.resolve();
    assert.equal(forced, false);
    release();
    await stopping;
    assert.equal(forced, true);
    assert.equal(life.state, 'stopped');
    const unused = lifecycle();
    await unused.stop({ force: () => assert.fail('nothing to force') });
    assert.equal(unused.state, 'stopped');
  });
});
