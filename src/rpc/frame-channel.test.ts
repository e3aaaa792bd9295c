import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Duplex, PassThrough, Writable } from 'node:stream';

import { ServiceError } from '../errors/service-error.js';
import { FrameChannel } from './frame-channel.js';
import { CallTimedOut, FramePeer, PeerClosed } from './frame-peer.js';

/** Two connected ends, and a count of the writes each makes. */
function pair(): { left: Duplex; right: Duplex; writes: { left: number; right: number } } {
  const toRight = new PassThrough();
  const toLeft = new PassThrough();
  const writes = { left: 0, right: 0 };
  const counting = (target: PassThrough, side: 'left' | 'right'): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes[side]++;
        target.write(chunk, callback);
      },
      final(callback) {
        target.end();
        callback();
      },
    });
  return {
    left: Duplex.from({ readable: toLeft, writable: counting(toRight, 'left') }),
    right: Duplex.from({ readable: toRight, writable: counting(toLeft, 'right') }),
    writes,
  };
}

function frameBytes(header: object, payload = Buffer.alloc(0)): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(4 + head.length + payload.length, 0);
  prefix.writeUInt32BE(head.length, 4);
  return Buffer.concat([prefix, head, payload]);
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('frames', () => {
  it('carries headers and payloads in order, all frames of one turn in one write', async () => {
    const { left, right, writes } = pair();
    const received: Array<[Record<string, unknown>, string]> = [];
    const options = { maxFrameBytes: 1 << 20, onViolation: (what: string) => assert.fail(what), onClose: () => undefined };
    const sender = new FrameChannel(left, { ...options, onFrame: () => undefined });
    new FrameChannel(right, { ...options, onFrame: (header, payload) => received.push([header, payload.toString()]) });
    for (let i = 0; i < 100; i++) sender.send({ i, text: 'ünïcödé ✓' }, i % 2 === 0 ? Buffer.from(`payload ${i}`) : undefined);
    await nextTurn();
    await nextTurn();
    assert.equal(writes.left, 1, 'one write for the whole turn');
    assert.equal(received.length, 100);
    received.forEach(([header, payload], i) => {
      assert.deepEqual(header, { i, text: 'ünïcödé ✓' });
      assert.equal(payload, i % 2 === 0 ? `payload ${i}` : '');
    });
  });

  it('joins a frame that arrives a byte at a time, and splits frames that arrive together', async () => {
    const input = new PassThrough();
    const received: Array<Record<string, unknown>> = [];
    new FrameChannel(Duplex.from({ readable: input, writable: new PassThrough() }), {
      maxFrameBytes: 1 << 20,
      onFrame: (header, payload) => received.push({ ...header, payload: payload.length }),
      onViolation: (what) => assert.fail(what),
      onClose: () => undefined,
    });
    const big = frameBytes({ n: 1 }, Buffer.alloc(70_000, 7));
    for (let i = 0; i < big.length; i += 997) input.write(big.subarray(i, i + 997));
    input.write(Buffer.concat([frameBytes({ n: 2 }), frameBytes({ n: 3 }, Buffer.from('x')), frameBytes({ n: 4 }).subarray(0, 5)]));
    input.write(frameBytes({ n: 4 }).subarray(5));
    await nextTurn();
    assert.deepEqual(received, [
      { n: 1, payload: 70_000 },
      { n: 2, payload: 0 },
      { n: 3, payload: 1 },
      { n: 4, payload: 0 },
    ]);
  });

  for (const [what, bytes, reason] of [
    ['a frame over the limit', (() => {
      const prefix = Buffer.alloc(8);
      prefix.writeUInt32BE(10_000_000, 0);
      return prefix;
    })(), /a frame of 10000000 bytes/],
    ['lengths that do not add up', (() => {
      const prefix = Buffer.alloc(12);
      prefix.writeUInt32BE(8, 0);
      prefix.writeUInt32BE(100, 4);
      return prefix;
    })(), /do not add up/],
    ['a header that is not JSON', Buffer.concat([Buffer.from([0, 0, 0, 7, 0, 0, 0, 3]), Buffer.from('{{{')]), /not JSON/],
    ['a header that is not an object', frameBytes([1, 2]), /not an object/],
  ] as const) {
    it(`ends the channel on ${what}, before believing any of it`, async () => {
      const input = new PassThrough();
      const violations: string[] = [];
      let frames = 0;
      let closed = false;
      new FrameChannel(Duplex.from({ readable: input, writable: new PassThrough() }), {
        maxFrameBytes: 1 << 20,
        onFrame: () => frames++,
        onViolation: (text) => violations.push(text),
        onClose: () => {
          closed = true;
        },
      });
      input.write(bytes);
      input.write(frameBytes({ after: true }));
      await nextTurn();
      assert.equal(frames, 0);
      assert.equal(violations.length, 1);
      assert.match(violations[0] ?? '', reason);
      assert.equal(closed, true);
    });
  }
});

describe('calls over frames', () => {
  function peers(acceptCodes: ReadonlyArray<'RUNTIME_UNAVAILABLE' | 'INTERNAL_ERROR'> = ['RUNTIME_UNAVAILABLE']): { service: FramePeer; runtime: FramePeer; violations: string[] } {
    const { left, right } = pair();
    const violations: string[] = [];
    const options = { maxFrameBytes: 1 << 20, acceptCodes: new Set(acceptCodes), onViolation: (what: string) => violations.push(what), onClose: () => undefined };
    return { service: new FramePeer(left, options), runtime: new FramePeer(right, options), violations };
  }

  it('answers calls both ways, with payloads, and passes notifications', async () => {
    const { service, runtime } = peers();
    runtime.handle('double', (body, payload) => Promise.resolve({ body: { n: (body.n as number) * 2 }, payload: Buffer.concat([payload, payload]) }));
    service.handle('store.get', () => Promise.resolve({ body: { found: false } }));
    const notes: unknown[] = [];
    runtime.on('release', (body) => notes.push(body));
    const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => service.call('double', { n }, { payload: Buffer.from('ab') })));
    answers.forEach((answer, n) => {
      assert.equal(answer.body.n, n * 2);
      assert.equal(answer.payload.toString(), 'abab');
    });
    assert.deepEqual((await runtime.call('store.get', {})).body, { found: false });
    service.notify('release', { instance_key: 'k' });
    await nextTurn();
    await nextTurn();
    assert.deepEqual(notes, [{ instance_key: 'k' }]);
  });

  it('keeps only the error codes the receiver accepts, and only short scalar details', async () => {
    const { service, runtime } = peers();
    runtime.handle('busy', () => Promise.reject(new ServiceError('RUNTIME_UNAVAILABLE', 'full', { queued: 3, nested: { a: 1 } })));
    runtime.handle('forged', () => Promise.reject(new ServiceError('RUNTIME_ERROR', 'a script crashed', { reason: 'sandbox_crashed', counts_against_script: true })));
    runtime.handle('bug', () => Promise.reject(new TypeError('oops')));
    await assert.rejects(service.call('busy', {}), (error: ServiceError) => error.code === 'RUNTIME_UNAVAILABLE' && error.details.queued === 3 && !('nested' in error.details));
    // A runtime process cannot claim a crash (which would count against a script): it arrives as an internal error.
    await assert.rejects(service.call('forged', {}), (error: ServiceError) => error.code === 'INTERNAL_ERROR');
    await assert.rejects(service.call('bug', {}), (error: ServiceError) => error.code === 'INTERNAL_ERROR' && /oops/.test(error.message));
    await assert.rejects(service.call('nothing', {}), (error: ServiceError) => error.code === 'INTERNAL_ERROR' && /unknown operation/.test(error.message));
  });

  it('times out a call, drops its late answer, and fails every call in flight when the channel closes', async () => {
    const { service, runtime, violations } = peers();
    let release: () => void = () => undefined;
    runtime.handle('slow', () => new Promise((resolve) => (release = () => resolve({ body: { late: true } }))));
    await assert.rejects(service.call('slow', {}, { timeoutMs: 20 }), CallTimedOut);
    release();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(violations, [], 'a late answer is no violation');
    runtime.handle('never', () => new Promise(() => undefined));
    const pending = [service.call('never', {}), service.call('never', {})];
    runtime.close();
    for (const call of pending) await assert.rejects(call, PeerClosed);
    await assert.rejects(service.call('never', {}), PeerClosed);
  });

  it('treats an answer to a call never made as a violation', async () => {
    const input = new PassThrough();
    const violations: string[] = [];
    new FramePeer(Duplex.from({ readable: input, writable: new PassThrough() }), { maxFrameBytes: 1 << 20, acceptCodes: new Set(), onViolation: (what) => violations.push(what), onClose: () => undefined });
    input.write(frameBytes({ k: 'r', i: 99, b: {} }));
    input.write(frameBytes({ k: 'x' }));
    await nextTurn();
    assert.deepEqual(violations, ['an answer to a call nobody made', 'a frame of an unknown kind']);
  });
});
