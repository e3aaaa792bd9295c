import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { createSilentLogger } from '../observability/logger.js';
import { INLINE_BUDGET, ParamsValidator } from './params-validator.js';

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

describe('params validation', () => {
  const validator = new ParamsValidator({ logger: createSilentLogger(), timeoutMs: 5000 });
  const strict = new ParamsValidator({ logger: createSilentLogger(), timeoutMs: 50 });
  after(async () => {
    await validator.stop();
    await strict.stop();
  });

  const small = { type: 'object', properties: { a: { type: 'number' }, unit: { type: 'string', default: 'cm' } }, required: ['a'] };
  // 10,000 enum values checked for each of 30,000 items took 1.6 s on the service's thread; this is a fifth of that.
  const heavy = { type: 'object', properties: { list: { type: 'array', items: { enum: Array.from({ length: 3000 }, (_, i) => `v${i}`) } } } };
  const heavyParams = { list: Array.from({ length: 20_000 }, () => 'nope') };

  it('validates small params inline, defaults applied', async () => {
    const params = { a: 1 };
    assert.ok(bytes(params) * 10 < INLINE_BUDGET);
    assert.deepEqual(await validator.validate('small', small, params, bytes(params)), { valid: true, params: { a: 1, unit: 'cm' } });
    const refused = await validator.validate('small', small, { a: 'x' }, 10);
    assert.equal(refused.valid, false);
    if (!refused.valid) assert.match(refused.message, /params\/a must be number/);
  });

  it('validates on a worker thread when schema × params could take long, defaults applied there too', async () => {
    const verdict = await validator.validate('heavy', heavy, heavyParams, bytes(heavyParams));
    assert.equal(verdict.valid, false);
    if (!verdict.valid) assert.match(verdict.message, /must be equal to one of the allowed values/);
    const big = { a: 1, pad: 'x'.repeat(INLINE_BUDGET) };
    assert.deepEqual(await validator.validate('small', small, big, bytes(big)), { valid: true, params: { ...big, unit: 'cm' } });
  });

  it('ends a validation at its time limit and goes on with a new worker', async () => {
    // The first call on a worker may also start it and compile the schema; the next ones may not.
    assert.equal((await strict.validate('heavy', heavy, { list: ['v1'] }, INLINE_BUDGET)).valid, true);
    const slow = await strict.validate('heavy', heavy, heavyParams, bytes(heavyParams));
    assert.equal(slow.valid, false);
    if (!slow.valid) assert.match(slow.message, /took longer than 50 ms/);
    const next = { list: ['v1', 'v2'] };
    const big = { list: ['v1', 'v2', 'v3'] };
    assert.deepEqual(await strict.validate('heavy', heavy, big, INLINE_BUDGET), { valid: true, params: big });
    assert.deepEqual(await strict.validate('heavy', heavy, next, bytes(next)), { valid: true, params: next });
  });

  it('does not run a schema that fails the registration checks (stored before them)', async () => {
    const legacy = { type: 'array', uniqueItems: true };
    const list = Array.from({ length: 30_000 }, (_, i) => i);
    assert.deepEqual(await validator.validate('legacy', legacy, list, bytes(list)), { valid: true, params: list });
  });
});
