import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { guestLogs, guestScriptError } from '../kit/guest-values.js';
import { codeOutsideCommentsAndStrings, describeCompileFailure, detectForm, explainCompileError, parseCompileError, wrapSource } from './source-forms.js';
import { readEnvelope } from './warm-contexts.js';

describe('Node.js source forms (pure)', () => {
  it('a script assigning module.exports or exports.x is a module; anything else a function body', () => {
    assert.equal(detectForm('module.exports = (event) => 1;'), 'module');
    assert.equal(detectForm('exports.handler = async () => 2;'), 'module');
    assert.equal(detectForm('module . exports["handler"] = f;'), 'module');
    assert.equal(detectForm('return event.params.a + 1;'), 'body');
    assert.equal(detectForm('if (module.exports == null) return 1;'), 'body', 'a comparison is not an assignment');
    assert.equal(detectForm('return obj.exports = 3;'), 'body', 'a property named exports of another object');
  });

  it('reads code only: module.exports in a comment or a string is no assignment', () => {
    assert.equal(detectForm('// a body, not module.exports = async (event) => ...\nreturn 1;'), 'body');
    assert.equal(detectForm('/* exports.handler = f */ return 2;'), 'body');
    assert.equal(detectForm('return "module.exports = x" + \'exports.a = 1\' + `exports.b = ${1}`;'), 'body');
    assert.equal(detectForm('const s = "it\\"s"; // module.exports = 1\nreturn s;'), 'body', 'an escaped quote does not end the string');
    assert.equal(detectForm('// the handler:\nmodule.exports = (event) => 1;'), 'module');
    assert.equal(detectForm('const url = "http://x"; exports.handler = () => url;'), 'module', '// inside a string is no comment');
    const source = 'a /* x\ny */ "b"\n`c\nd` e';
    assert.equal(codeOutsideCommentsAndStrings(source), 'a     \n        \n  \n   e', 'same length, same lines');
  });

  it('the wrapper keeps the user line numbers (its opening on a line of its own) and a shebang its columns', () => {
    const wrapped = wrapSource('return 1;', 'body');
    assert.equal(wrapped.split('\n')[1], 'return 1;');
    assert.ok(wrapped.startsWith('(async function (event, params, context, require) {\n'));
    assert.ok(wrapSource('module.exports = 1;', 'module').startsWith('(function (exports, require, module, __filename, __dirname) {\n'));
    assert.equal(wrapSource('#!/usr/bin/env node\nreturn 1;', 'body').split('\n')[1], '///usr/bin/env node');
  });
});

describe('Node.js compile errors (pure)', () => {
  it("splits isolated-vm's message into message, line and column and draws a caret under the column", () => {
    const parsed = parseCompileError(new SyntaxError("Unexpected token ';' [script.js:2:9]"));
    assert.deepEqual(parsed, { name: 'SyntaxError', message: "Unexpected token ';'", line: 2, column: 9 });
    const failure = describeCompileFailure(parsed, ['const a = 1;', 'return a +;']);
    assert.equal(failure.line, 2);
    assert.equal(failure.column, 9);
    assert.equal(failure.diagnostics, "script.js:2:9\nreturn a +;\n        ^\n\nSyntaxError: Unexpected token ';'");
  });

  it('without a position: the message alone; a line past the end is clamped to the last line', async () => {
    assert.deepEqual(describeCompileFailure(parseCompileError(new SyntaxError('Invalid regular expression')), ['x']), {
      kind: 'SyntaxError',
      message: 'Invalid regular expression',
      diagnostics: 'SyntaxError: Invalid regular expression',
    });
    assert.equal(describeCompileFailure({ name: 'SyntaxError', message: 'm', line: 9, column: 1 }, ['a', 'b']).line, 2);
    const pastTheEnd = new SyntaxError("Unexpected token ')' [script.js:5:2]");
    const unmatched = await explainCompileError(pastTheEnd, 'if (x) {\n  y();\n} }\n// end', 'body', () => Promise.resolve());
    assert.deepEqual([unmatched.message, unmatched.line, unmatched.column], ["Unexpected token '}'", 3, 3], 'an unmatched } is reported at the last one');
  });
});

describe('Node.js guest envelopes (pure)', () => {
  it('a garbled envelope is the script’s failure, not the service’s; logs keep strings only; errors keep typed fields', () => {
    assert.equal(readEnvelope('not json').s, 'error');
    assert.equal(readEnvelope('{"no":"status"}').s, 'error');
    assert.deepEqual(guestLogs(['a', 1, 'b']), ['a', 'b']);
    assert.deepEqual(guestLogs('x'), []);
    assert.deepEqual(guestScriptError({ name: 'TypeError', message: 'x', line: 3, column: 'no' }), { name: 'TypeError', message: 'x', line: 3 });
    assert.deepEqual(guestScriptError(undefined), { name: 'Error', message: '' });
  });
});
