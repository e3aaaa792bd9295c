import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSilentLogger } from '../observability/logger.js';
import { DisposerStack } from './disposer.js';

describe('DisposerStack', () => {
  it('a failing start unwinds what was started, in reverse, and rethrows', async () => {
    const stopped: string[] = [];
    const stack = new DisposerStack(createSilentLogger());
    await assert.rejects(
      stack.starting(async () => {
        stack.defer('database', await Promise.resolve('db'), (name) => stopped.push(name));
        stack.defer('runtimes', 'rt', async (name) => {
          await Promise.resolve();
          stopped.push(name);
        });
        throw new Error('the router file is missing');
      }),
      /router file/,
    );
    assert.deepEqual(stopped, ['rt', 'db']);
  });

  it('a step that fails does not stop the rest; unwinding twice stops once; nothing starts while stopping', async () => {
    const stopped: string[] = [];
    const stack = new DisposerStack(createSilentLogger());
    stack.defer('a', 'a', (n) => stopped.push(n));
    stack.defer('b', 'b', () => {
      throw new Error('b would not stop');
    });
    stack.defer('c', 'c', (n) => stopped.push(n));
    await Promise.all([stack.unwind(), stack.unwind()]);
    await stack.unwind();
    assert.deepEqual(stopped, ['c', 'a']);
    assert.throws(() => stack.defer('late', 1, () => undefined), /while the service is stopping/);
  });
});
