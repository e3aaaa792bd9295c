import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { collectLogs, newLogBuffer, toScriptError } from './wasm-results.js';

const limits = { maxLogEntries: 3, maxLogBytes: 20 };

/** A log buffer as guest/wasi-worker.js leaves it after `written` was printed. */
function printed(written: string): SharedArrayBuffer {
  const buffer = newLogBuffer(limits);
  const bytes = Buffer.from(written, 'utf8');
  const stored = bytes.subarray(0, buffer.byteLength - 16);
  new Uint8Array(buffer, 16).set(stored);
  const header = new Int32Array(buffer, 0, 4);
  header.set([stored.length, bytes.length, bytes.filter((byte) => byte === 10).length, written.endsWith('\n') ? 1 : 0]);
  return buffer;
}

describe('collectLogs', () => {
  it('gives the lines printed, without their line ends', () => {
    assert.deepEqual(collectLogs(printed(''), limits), []);
    assert.deepEqual(collectLogs(printed('a\r\nb\n'), limits), ['a', 'b']);
    assert.deepEqual(collectLogs(printed('no newline'), limits), ['no newline']);
  });

  it('counts the lines beyond the buffer in its marker', () => {
    const logs = collectLogs(printed('x\n'.repeat(1000)), limits);
    assert.deepEqual(logs.slice(0, 3), ['x', 'x', 'x']);
    assert.match(logs[3] ?? '', /^\[logs truncated: 997 more log entries dropped/);
  });

  it('cuts a line at the byte limit, never inside a character, and says so', () => {
    const logs = collectLogs(printed(`${'é'.repeat(15)}\n`), limits);
    assert.equal(logs[0], 'é'.repeat(10));
    assert.match(logs[1] ?? '', /last entry cut/);
  });
});

describe('toScriptError', () => {
  it("places an error in the user's script only when it is there", () => {
    const panic = JSON.stringify({ name: 'Panic', message: 'boom', file: 'script.rs', line: 3, column: 5 });
    assert.deepEqual(toScriptError(panic, 10), { name: 'Panic', message: 'boom', stack: 'Panic: boom\n    at script.rs:3:5', line: 3, column: 5 });
    assert.deepEqual(toScriptError(panic, 2), { name: 'Panic', message: 'boom', stack: 'Panic: boom\n    at script.rs:3:5' });
    assert.deepEqual(toScriptError('not json', 10), { name: 'Error', message: 'not json' });
  });
});
