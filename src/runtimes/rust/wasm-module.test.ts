import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { detectSourceFormat, loadModule, watToWasm } from './wasm-module.js';

async function wasm(text: string): Promise<Uint8Array> {
  const binary = await watToWasm(text);
  if (!(binary instanceof Uint8Array)) assert.fail(JSON.stringify(binary));
  return binary;
}

describe('detectSourceFormat', () => {
  it('tells WAT (after comments), base64 of a module and Rust apart', () => {
    assert.equal(detectSourceFormat(';; a module\n(; block ;)\n  (module)'), 'wat');
    assert.equal(detectSourceFormat('(; never closed (module)'), 'rust');
    assert.equal(detectSourceFormat('AGFzbQEA\nAAA='), 'wasm');
    assert.equal(detectSourceFormat('pub fn handler() {} // (module)'), 'rust');
  });
});

describe('loadModule', () => {
  it('compiles a module that fits and names what does not', async () => {
    const limit = 2 * 65536;
    const ok = await loadModule(await wasm('(module (memory (export "memory") 1 65536) (func (export "_start")))'), limit);
    assert.ok(!('kind' in ok), JSON.stringify(ok));
    const cases: [string, RegExp][] = [
      ['(module (memory (export "memory") 3) (func (export "_start")))', /initial memory \(192 KiB\) is above the memory limit \(128 KiB\)/],
      ['(module (table 100001 funcref) (memory (export "memory") 1) (func (export "_start")))', /table has 100001 entries/],
      ['(module (func (export "_start")))', /defines no memory/],
      ['(module (memory (export "memory") 1))', /"_start" function/],
    ];
    for (const [text, message] of cases) {
      const failure = await loadModule(await wasm(text), limit);
      assert.ok('kind' in failure && failure.kind === 'InvalidModule' && message.test(failure.message), JSON.stringify(failure));
    }
  });
});
