import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isServiceError } from '../errors/service-error.js';
import { assertLinearSchema, compileParamsSchema, createParamsAjv, MAX_UNIQUE_PAIRWISE_ITEMS } from './params-schema.js';

function refusal(schema: unknown): string {
  try {
    assertLinearSchema(schema, 'schema.params');
  } catch (error) {
    assert.ok(isServiceError(error) && error.code === 'INVALID_REQUEST', String(error));
    return `${String(error.details.field)}: ${error.message}`;
  }
  return assert.fail(`expected ${JSON.stringify(schema)} to be refused`);
}

describe('params schemas', () => {
  const ajv = createParamsAjv();

  it('matches patterns on RE2: patterns that backtrack in JavaScript run in linear time', () => {
    for (const pattern of ['^(a|a)*$', '^(a+)+$', '(x+x+)+y', '^(\\w+\\s?)*$']) {
      const compiled = compileParamsSchema(ajv, { type: 'object', properties: { s: { type: 'string', pattern } } });
      assert.ok('validate' in compiled, JSON.stringify(compiled));
      // JavaScript's RegExp needs about 2^n steps for these; RE2 answers at once.
      assert.equal(compiled.validate({ s: `${'a'.repeat(5000)}!` }), false, pattern);
    }
    const plain = compileParamsSchema(ajv, { type: 'object', properties: { s: { type: 'string', pattern: '^[a-z]+-\\d{2,}$' } } });
    assert.ok('validate' in plain);
    assert.equal(plain.validate({ s: 'abc-42' }), true);
    assert.equal(plain.validate({ s: 'abc-4' }), false);
    // A JSON Schema pattern is a search, not a whole-string match.
    const search = compileParamsSchema(ajv, { type: 'string', pattern: 'b+' });
    assert.ok('validate' in search);
    assert.equal(search.validate('abbbc'), true);
  });

  it('keeps two patterns of one schema apart (ajv deduplicates compiled patterns by name)', () => {
    const compiled = compileParamsSchema(ajv, { type: 'object', properties: { a: { type: 'string', pattern: '^a$' }, b: { type: 'string', pattern: '^b$' } }, patternProperties: { '^x': { type: 'number' } } });
    assert.ok('validate' in compiled);
    assert.equal(compiled.validate({ a: 'a', b: 'b', x1: 1 }), true);
    assert.equal(compiled.validate({ a: 'a', b: 'a' }), false);
    assert.equal(compiled.validate({ a: 'a', b: 'b', x1: 'not a number' }), false);
  });

  it('refuses patterns RE2 cannot run, naming where they are', () => {
    assert.match(refusal({ type: 'string', pattern: '^(?=a)a' }), /schema\.params\.pattern: .*RE2/);
    assert.match(refusal({ properties: { s: { pattern: '(a)\\1' } } }), /schema\.params\.properties\.s\.pattern/);
    assert.match(refusal({ patternProperties: { '(?!x)': {} } }), /schema\.params\.patternProperties/);
  });

  it('accepts uniqueItems only where it is checked in one pass or over few items', () => {
    assert.match(refusal({ type: 'array', uniqueItems: true }), /schema\.params\.uniqueItems: .*maxItems/);
    assert.match(refusal({ properties: { list: { type: 'array', uniqueItems: true, items: { type: 'object' } } } }), /properties\.list\.uniqueItems/);
    assert.match(refusal({ type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_PAIRWISE_ITEMS + 1 }), /uniqueItems/);
    assert.match(refusal({ type: 'array', uniqueItems: true, items: { type: ['string', 'object'] } }), /uniqueItems/);
    for (const schema of [
      { type: 'array', uniqueItems: true, items: { type: 'number' } },
      { type: 'array', uniqueItems: true, items: { type: ['string', 'null'] } },
      { type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_PAIRWISE_ITEMS },
      { type: 'array', uniqueItems: false },
    ]) {
      assertLinearSchema(schema, 'schema.params');
    }
    const typed = compileParamsSchema(ajv, { type: 'array', uniqueItems: true, items: { type: 'integer' } });
    assert.ok('validate' in typed);
    const many = Array.from({ length: 30_000 }, (_, i) => i);
    assert.equal(typed.validate(many), true);
    assert.equal(typed.validate([...many, 7]), false);
  });

  it('gives the reason instead of a validator for a schema stored before these checks', () => {
    const compiled = compileParamsSchema(ajv, { type: 'array', uniqueItems: true });
    assert.ok('error' in compiled);
    assert.match(compiled.error, /uniqueItems/);
  });
});
