import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { boundLogs, boundOutput, boundResultDepth, MAX_ERROR_MESSAGE_CHARS, MAX_RESULT_DEPTH, truncationMarker } from './output-limits.js';
import type { InvocationResult } from '../runtime.js';

const limits = { maxLogEntries: 3, maxLogBytes: 20, maxResultBytes: 64 };
const stats = { durationMs: 1 };

describe('output limits enforced by the host', () => {
  it('passes output a guest already bounded unchanged (the same objects)', () => {
    const logs = ['a', 'b', 'c', truncationMarker(5, limits)];
    assert.equal(boundLogs(logs, limits), logs);
    const ok: InvocationResult = { status: 'ok', result: { x: 1 }, logs: ['one'], stats };
    assert.equal(boundOutput(ok, limits), ok);
    assert.equal(boundOutput(ok, limits, 7), ok);
  });

  it('cuts logs beyond the entry and byte limits, with one marker line', () => {
    const many = Array.from({ length: 30_000 }, (_, i) => `line ${i}`);
    assert.deepEqual(boundLogs(many, limits), ['line 0', 'line 1', 'line 2', truncationMarker(29_997, limits)]);
    assert.deepEqual(boundLogs(['0123456789', '0123456789', 'ab'], limits), ['0123456789', '0123456789', truncationMarker(1, limits)]);
    assert.deepEqual(boundLogs(['0123456789012345', 'éééé'], limits), ['0123456789012345', 'éé', truncationMarker(0, limits)]);
    // A forged "marker" with more lines behind it is no marker.
    assert.deepEqual(boundLogs(['a', 'b', 'c', '[logs truncated: nothing]', 'e'], limits), ['a', 'b', 'c', truncationMarker(2, limits)]);
    assert.deepEqual(boundLogs(['a', 42, 'b'], limits), ['a', 'b', truncationMarker(0, limits)]);
  });

  it('turns a result over the limit into output_limit, measured or as the wire says', () => {
    const big: InvocationResult = { status: 'ok', result: 'x'.repeat(100), logs: [], stats };
    const measured = boundOutput(big, limits);
    assert.equal(measured.status, 'output_limit');
    if (measured.status === 'output_limit') assert.match(measured.message, /102 bytes of JSON, over the limit of 64 bytes/);
    assert.equal(boundOutput({ status: 'ok', result: 1, logs: [], stats }, limits, 1_000_000).status, 'output_limit');
  });

  it('cuts error descriptions and limit messages', () => {
    const error = boundOutput({ status: 'error', error: { name: 'n'.repeat(500), message: 'm'.repeat(100_000), stack: 's'.repeat(100_000), line: 1.5 }, logs: [], stats }, limits);
    assert.equal(error.status, 'error');
    if (error.status !== 'error') return;
    assert.ok(error.error.name.length <= 203);
    assert.ok(error.error.message.length <= MAX_ERROR_MESSAGE_CHARS + 3);
    assert.ok((error.error.stack ?? '').length <= 16_387);
    assert.equal(error.error.line, undefined);
    const memory = boundOutput({ status: 'memory_limit', limitBytes: 1, message: 'x'.repeat(50_000), logs: [], stats }, limits);
    assert.ok(memory.status === 'memory_limit' && memory.message.length <= MAX_ERROR_MESSAGE_CHARS + 3);
  });

  it('refuses a result nested deeper than the host can serialise, before serialising it', () => {
    const nested = (depth: number): unknown => {
      let value: unknown = [];
      for (let i = 1; i < depth; i++) value = i % 2 === 0 ? [value] : { v: value };
      return value;
    };
    const deep = boundResultDepth({ status: 'ok', result: nested(5000), logs: ['kept'], stats });
    assert.equal(deep.status, 'error');
    if (deep.status === 'error') assert.match(deep.error.message, new RegExp(`deeper than ${MAX_RESULT_DEPTH} levels`));
    assert.deepEqual(deep.logs, ['kept']);
    const fine: InvocationResult = { status: 'ok', result: nested(MAX_RESULT_DEPTH), logs: [], stats };
    assert.equal(boundResultDepth(fine), fine);
    assert.equal(boundOutput({ status: 'ok', result: nested(MAX_RESULT_DEPTH + 1), logs: [], stats }, { ...limits, maxResultBytes: 1 << 20 }).status, 'error');
  });
});
