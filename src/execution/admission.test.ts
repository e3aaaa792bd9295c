import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isServiceError } from '../errors/service-error.js';
import { Admission, type AdmissionScope } from './admission.js';

function refusedScope(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    assert.ok(isServiceError(error));
    assert.equal(error.code, 'RATE_LIMITED');
    assert.equal(error.status, 429);
    assert.equal(error.details.reason, 'concurrency_limit');
    assert.equal(error.details.retry_after_seconds, 1);
    return error.details.scope;
  }
  return 'admitted';
}

describe('Admission', () => {
  it('refuses beyond each bound, names it, counts it, and admits again once a slot is given back', () => {
    const shed: AdmissionScope[] = [];
    const admission = new Admission({ service: 4, perFunction: 3, perSession: 2, retryAfterSeconds: 1, onShed: (s) => shed.push(s) });
    const a1 = admission.admit('nodejs-f', 's1');
    admission.admit('nodejs-f', 's1');
    assert.equal(refusedScope(() => admission.admit('nodejs-f', 's1')), 'session');
    admission.admit('nodejs-f', 's2');
    assert.equal(refusedScope(() => admission.admit('nodejs-f', 's3')), 'function');
    admission.admit('python-g', 's4');
    assert.equal(refusedScope(() => admission.admit('rust-h', 's5')), 'service');
    assert.deepEqual(shed, ['session', 'function', 'service']);
    assert.equal(admission.inFlight, 4);

    a1();
    a1(); // a second release gives nothing back twice
    assert.equal(admission.inFlight, 3);
    assert.equal(refusedScope(() => admission.admit('nodejs-f', 's1')), 'admitted');
    assert.equal(refusedScope(() => admission.admit('rust-h', 's5')), 'service');
  });

  it('0 means no bound of its own', () => {
    const admission = new Admission({ service: 0, perFunction: 0, perSession: 0, retryAfterSeconds: 1 });
    for (let i = 0; i < 1000; i++) admission.admit('f', 's');
    assert.equal(admission.inFlight, 1000);
  });
});
