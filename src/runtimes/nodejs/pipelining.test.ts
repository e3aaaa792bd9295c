import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FAST_CALL_MS, PIPELINE_AFTER_FAST_CALLS, PipeliningPolicy, type PipelineSlot } from './pipelining.js';

function earnPipelining(policy: PipeliningPolicy, instanceKey = 'session', scriptHash = 'script') {
  const conduct = policy.conductOf(instanceKey, scriptHash);
  for (let i = 0; i < PIPELINE_AFTER_FAST_CALLS; i++) policy.record(conduct, FAST_CALL_MS);
  return conduct;
}

function slot(inFlight: number, pipelineKey: string | undefined, live = true, alive = true): PipelineSlot {
  return { inFlight, pipelineKey, alive, contexts: { hasLive: (key) => live && key === pipelineKey } };
}

describe('Node.js pipelining policy (pure)', () => {
  it('makes a session hot after enough fast calls in a row; a slow call restarts the count', () => {
    const policy = new PipeliningPolicy(8);
    const conduct = policy.conductOf('s', 'h');
    assert.equal(policy.isHot(conduct), false, 'a new session runs one call at a time');
    for (let i = 1; i < PIPELINE_AFTER_FAST_CALLS; i++) policy.record(conduct, 0);
    policy.record(conduct, FAST_CALL_MS + 1);
    policy.record(conduct, 0);
    assert.equal(policy.isHot(conduct), false);
    for (let i = 1; i < PIPELINE_AFTER_FAST_CALLS; i++) policy.record(conduct, FAST_CALL_MS);
    assert.equal(policy.isHot(conduct), true);
    policy.record(conduct, undefined);
    assert.equal(policy.isHot(conduct), false, 'a call with no run time (output_limit) counts as slow');
    assert.equal(policy.isHot(undefined), false, 'a prepare is never pipelined');
  });

  it('bans a misbehaving session for good, until it is forgotten', () => {
    const policy = new PipeliningPolicy(8);
    const conduct = earnPipelining(policy);
    policy.ban(conduct);
    for (let i = 0; i < 10; i++) policy.record(conduct, 0);
    assert.equal(policy.isHot(conduct), false);
    assert.equal(policy.conductOf('session', 'script'), conduct, 'conduct is kept per session and script');
    assert.notEqual(policy.conductOf('session', 'other script'), conduct);
    policy.forget('session');
    assert.equal(policy.isHot(policy.conductOf('session', 'script')), false);
    assert.equal(policy.isHot(earnPipelining(policy)), true, 'a forgotten session earns pipelining again');
  });

  it('never pipelines when at most one call may be queued on an isolate', () => {
    assert.equal(new PipeliningPolicy(1).isHot(earnPipelining(new PipeliningPolicy(1))), false);
  });

  it('joins the fullest isolate pipelining the same context that has room and a live context', () => {
    const policy = new PipeliningPolicy(4);
    const slots = [slot(2, 'k'), slot(3, 'k'), slot(4, 'k'), slot(3, 'other'), slot(3, 'k', false), slot(3, 'k', true, false), slot(0, undefined)];
    assert.equal(policy.pipelineFor(slots, 'k'), slots[1]);
    assert.equal(policy.pipelineFor(slots, 'unknown'), undefined, 'no pipeline: the call is placed like any other');
    assert.equal(policy.pipelineFor([slot(4, 'k')], 'k'), undefined, 'a full pipeline takes no more');
  });
});
