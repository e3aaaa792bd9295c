import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { guestCompileFailure, guestLogs, guestScriptError } from './guest-values.js';

describe('what a guest sends back, read defensively', () => {
  it('keeps only string log lines, and the same array when it holds nothing else', () => {
    const clean = ['a', 'b'];
    assert.equal(guestLogs(clean), clean);
    assert.deepEqual(guestLogs(['a', 1, { toString: 'x' }, null, 'b']), ['a', 'b']);
    assert.deepEqual(guestLogs('not a list'), []);
  });

  it('reads a script error field by field, with defaults for what is missing or mistyped', () => {
    assert.deepEqual(guestScriptError({ name: 'TypeError', message: 'x is not a function', stack: 's', line: 3, column: 7 }), { name: 'TypeError', message: 'x is not a function', stack: 's', line: 3, column: 7 });
    assert.deepEqual(guestScriptError({ name: 42, message: ['m'], stack: {}, line: '3', extra: 'dropped' }), { name: 'Error', message: '' });
    assert.deepEqual(guestScriptError(null), { name: 'Error', message: '' });
  });

  it('reads a compile failure the same way', () => {
    assert.deepEqual(guestCompileFailure({ kind: 'IndentationError', message: 'unexpected indent', line: 2, diagnostics: 'd' }), { kind: 'IndentationError', message: 'unexpected indent', line: 2, diagnostics: 'd' });
    assert.deepEqual(guestCompileFailure('garbage'), { kind: 'SyntaxError', message: 'the script does not compile' });
  });
});
