/**
 * The contract every `Runtime` passes, whatever the language and wherever it runs (in this
 * process, in worker processes, over gRPC). Language specifics live only in the fixtures: the
 * source of a handful of scripts and what the language can tell about them.
 *
 * Usage, from a `*.test.ts` file:
 *   runRuntimeContract('nodejs', async () => new NodejsRuntime({...}), nodejsFixtures);
 * The suite calls `start()` on the runtime it is given and `stop()` at the end.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { CompileFailure, ExecuteRequest, InvocationResult, PrepareResult, Runtime, ScriptError } from '../../src/runtimes/runtime.js';

export interface ContractFixtures {
  /** Returns `params.a + params.b`. */
  readonly sum: string;
  /** Returns `params` unchanged. */
  readonly echo: string;
  /** Throws an error with the message "boom", of type `name`, on `line` where the language reports lines. */
  readonly throws: { readonly source: string; readonly name: string; readonly line?: number };
  /** Writes exactly `lines` (two of them), in this order, then returns. */
  readonly logsTwoLines: { readonly source: string; readonly lines: readonly [string, string] };
  /** Never ends on its own (a busy loop). */
  readonly infiniteLoop: string;
  /** Allocates memory without bound. */
  readonly memoryBomb: string;
  /** Does not compile; the first error is on `line` (1-based, in the script's own lines). */
  readonly syntaxError: { readonly source: string; readonly line: number };
  /** Returns a value with no JSON form, where the language has such values; `message` matches the error. */
  readonly nonJsonResult?: { readonly source: string; readonly message: RegExp };
  /** Keeps a module-level counter and returns its new value on each call: 1, 2, 3... */
  readonly counter: string;
  /**
   * Set where every invocation starts from a fresh instance of the script (no module-level state
   * survives a call, e.g. a WebAssembly instance per invocation): the counter then returns 1 on
   * every call, and the state cases assert exactly that (still never shared across instances).
   */
  readonly freshStatePerCall?: boolean;
  /** Compile options sent with every prepare (e.g. Rust's optimization level). */
  readonly compileOptions?: Readonly<Record<string, unknown>>;
  /** Time limit given to the infinite loop (default 500 ms). */
  readonly loopTimeoutMs?: number;
  /** How late a timeout may be reported, beyond its limit (default 1500 ms). */
  readonly timeoutMarginMs?: number;
  /** Time limit given to ordinary calls and to the memory bomb (default 10000 ms). */
  readonly timeoutMs?: number;
  /** Per-test time limit of node:test (default 60000 ms; compiled languages need more). */
  readonly testTimeoutMs?: number;
  /** What the language offers scripts (its platform: timers, libraries...), run in every form of its runtime. */
  readonly cases?: readonly LanguageCase[];
}

/** A script of one language, the params it is run with, and the result it must give (or a check of it). */
export interface LanguageCase {
  readonly name: string;
  readonly source: string;
  readonly params?: unknown;
  /** Sent with its prepare instead of the fixtures' compile options. */
  readonly compileOptions?: Readonly<Record<string, unknown>>;
  /** The result it must give, unless `check` is set. */
  readonly result?: unknown;
  /** The result only has to satisfy this (random values, times); `result` is then ignored. */
  readonly check?: (result: unknown) => void;
}

/** The hash a caller would compute: the script and its compile options. */
export function scriptHashOf(language: string, source: string, compileOptions?: Readonly<Record<string, unknown>>): string {
  return createHash('sha256')
    .update(language)
    .update('\0')
    .update(source)
    .update('\0')
    .update(JSON.stringify(compileOptions ?? {}))
    .digest('hex');
}

export function runRuntimeContract(name: string, createRuntime: () => Promise<Runtime>, fixtures: ContractFixtures): void {
  const timeoutMs = fixtures.timeoutMs ?? 10_000;
  const loopTimeoutMs = fixtures.loopTimeoutMs ?? 500;
  const marginMs = fixtures.timeoutMarginMs ?? 1500;
  const testOptions = { timeout: fixtures.testTimeoutMs ?? 60_000 };

  describe(`runtime contract: ${name}`, () => {
    let runtime: Runtime;
    let keySequence = 0;
    const uniqueKey = (label: string): string => `${name}-${label}-${++keySequence}-${process.pid}`;

    async function prepare(source: string): Promise<{ hash: string; result: PrepareResult }> {
      const hash = scriptHashOf(runtime.language, source, fixtures.compileOptions);
      const result = await runtime.prepare({
        scriptHash: hash,
        source,
        ...(fixtures.compileOptions ? { compileOptions: fixtures.compileOptions } : {}),
      });
      return { hash, result };
    }

    async function prepared(source: string): Promise<string> {
      const { hash, result } = await prepare(source);
      assert.equal(result.ok, true, `prepare failed: ${JSON.stringify(result)}`);
      return hash;
    }

    function execute(hash: string, instanceKey: string, params: unknown, limitMs = timeoutMs): Promise<InvocationResult> {
      const request: ExecuteRequest = {
        scriptHash: hash,
        instanceKey,
        event: { params, context: { env: 'test' }, request_id: instanceKey },
        timeoutMs: limitMs,
      };
      return runtime.execute(request);
    }

    async function assertServes(): Promise<void> {
      const hash = await prepared(fixtures.sum);
      const result = await execute(hash, uniqueKey('after'), { a: 40, b: 2 });
      assert.equal(result.status, 'ok', JSON.stringify(result));
      if (result.status === 'ok') assert.equal(result.result, 42);
    }

    before(async () => {
      runtime = await createRuntime();
      await runtime.start();
    });

    after(async () => {
      await runtime?.stop();
    });

    it('reports up once started', () => {
      assert.equal(runtime.health().status, 'up');
    });

    it('prepares a script and runs it with params', testOptions, async () => {
      const { hash, result } = await prepare(fixtures.sum);
      assert.equal(result.ok, true, JSON.stringify(result));
      if (result.ok) assert.equal(typeof result.compileMs, 'number');
      const run = await execute(hash, uniqueKey('sum'), { a: 5, b: 3 });
      assert.equal(run.status, 'ok', JSON.stringify(run));
      if (run.status === 'ok') assert.equal(run.result, 8);
      assert.ok(Array.isArray(run.logs));
      assert.equal(typeof run.stats.durationMs, 'number');
      assert.ok(run.stats.durationMs >= 0);
    });

    it('prepares the same script twice without complaint', testOptions, async () => {
      await prepared(fixtures.sum);
      const hash = await prepared(fixtures.sum);
      const run = await execute(hash, uniqueKey('twice'), { a: 1, b: 1 });
      assert.equal(run.status, 'ok', JSON.stringify(run));
    });

    it('passes structured params through unchanged', testOptions, async () => {
      const hash = await prepared(fixtures.echo);
      const params = { text: 'héllo ✓ 𝄞', list: [1, 2.5, -3, null, true], nested: { deep: { value: 'x' } }, empty: {} };
      const run = await execute(hash, uniqueKey('echo'), params);
      assert.equal(run.status, 'ok', JSON.stringify(run));
      if (run.status === 'ok') assert.deepEqual(run.result, params);
    });

    it('reports a thrown error as an error result', testOptions, async () => {
      const hash = await prepared(fixtures.throws.source);
      const run = await execute(hash, uniqueKey('throws'), {});
      assert.equal(run.status, 'error', JSON.stringify(run));
      if (run.status !== 'error') return;
      assert.equal(run.error.name, fixtures.throws.name);
      assert.match(run.error.message, /boom/);
      if (fixtures.throws.line !== undefined) assert.equal(run.error.line, fixtures.throws.line, JSON.stringify(run.error));
      await assertServes();
    });

    it('captures logs in order', testOptions, async () => {
      const hash = await prepared(fixtures.logsTwoLines.source);
      const run = await execute(hash, uniqueKey('logs'), {});
      assert.equal(run.status, 'ok', JSON.stringify(run));
      assert.deepEqual(run.logs, [...fixtures.logsTwoLines.lines]);
    });

    it('ends an infinite loop with a timeout and keeps serving', testOptions, async () => {
      const hash = await prepared(fixtures.infiniteLoop);
      const started = performance.now();
      const run = await execute(hash, uniqueKey('loop'), {}, loopTimeoutMs);
      const elapsed = performance.now() - started;
      assert.equal(run.status, 'timeout', JSON.stringify(run));
      if (run.status === 'timeout') assert.equal(run.limitMs, loopTimeoutMs);
      assert.ok(elapsed >= loopTimeoutMs * 0.9, `returned after ${elapsed} ms, before the limit`);
      assert.ok(elapsed < loopTimeoutMs + marginMs, `returned after ${elapsed} ms`);
      await assertServes();
    });

    it('ends a memory bomb with memory_limit and keeps serving', testOptions, async () => {
      const hash = await prepared(fixtures.memoryBomb);
      const run = await execute(hash, uniqueKey('bomb'), {});
      assert.equal(run.status, 'memory_limit', JSON.stringify(run));
      if (run.status === 'memory_limit') {
        assert.ok(run.limitBytes > 0);
        assert.ok(run.message.length > 0);
      }
      await assertServes();
    });

    it('reports a syntax error at prepare, with its line', testOptions, async () => {
      const { result } = await prepare(fixtures.syntaxError.source);
      assert.equal(result.ok, false, JSON.stringify(result));
      if (result.ok) return;
      assert.ok(result.error.kind.length > 0);
      assert.ok(result.error.message.length > 0);
      assert.equal(result.error.line, fixtures.syntaxError.line, JSON.stringify(result.error));
    });

    if (fixtures.nonJsonResult) {
      const nonJson = fixtures.nonJsonResult;
      it('refuses a result that has no JSON form', testOptions, async () => {
        const hash = await prepared(nonJson.source);
        const run = await execute(hash, uniqueKey('nonjson'), {});
        assert.equal(run.status, 'error', JSON.stringify(run));
        if (run.status === 'error') assert.match(run.error.message, nonJson.message);
      });
    }

    // With fresh state per call, the counter returns 1 on every call (see freshStatePerCall).
    const fresh = fixtures.freshStatePerCall === true;
    const stateName = fresh ? 'starts every call from fresh state, shared with no instance' : 'keeps module-level state per instance, never across instances';
    it(stateName, testOptions, async () => {
      const hash = await prepared(fixtures.counter);
      const first = uniqueKey('state-a');
      const second = uniqueKey('state-b');
      const values: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const run = await execute(hash, first, {});
        assert.equal(run.status, 'ok', JSON.stringify(run));
        if (run.status === 'ok') values.push(run.result);
      }
      assert.deepEqual(values, fresh ? [1, 1, 1] : [1, 2, 3]);
      const other = await execute(hash, second, {});
      assert.equal(other.status, 'ok', JSON.stringify(other));
      if (other.status === 'ok') assert.equal(other.result, 1);
      const again = await execute(hash, first, {});
      if (again.status === 'ok') assert.equal(again.result, fresh ? 1 : 4);
      else assert.fail(JSON.stringify(again));
    });

    it('answers not_prepared for an unknown script', testOptions, async () => {
      const hash = scriptHashOf(runtime.language, `never prepared ${Math.random()}`);
      const run = await execute(hash, uniqueKey('unknown'), {});
      assert.equal(run.status, 'not_prepared');
      assert.deepEqual(run.logs, []);
    });

    it('runs 20 concurrent calls across 5 instances without mixing them', testOptions, async () => {
      const sumHash = await prepared(fixtures.sum);
      const echoHash = await prepared(fixtures.echo);
      const keys = Array.from({ length: 5 }, (_, i) => uniqueKey(`concurrent-${i}`));
      const calls = Array.from({ length: 20 }, async (_, i) => {
        const key = keys[i % keys.length] ?? '';
        const params = { a: i, b: 1000 * ((i % keys.length) + 1), key, i };
        const useEcho = i % 2 === 1;
        const run = await execute(useEcho ? echoHash : sumHash, key, params);
        assert.equal(run.status, 'ok', JSON.stringify(run));
        if (run.status !== 'ok') return;
        if (useEcho) assert.deepEqual(run.result, params);
        else assert.equal(run.result, params.a + params.b);
      });
      await Promise.all(calls);
    });

    it('drops the warm state of a released instance', testOptions, async () => {
      const hash = await prepared(fixtures.counter);
      const key = uniqueKey('release');
      for (const expected of fresh ? [1, 1] : [1, 2]) {
        const run = await execute(hash, key, {});
        if (run.status === 'ok') assert.equal(run.result, expected);
        else assert.fail(JSON.stringify(run));
      }
      runtime.release(key);
      runtime.release(uniqueKey('never-seen'));
      const run = await execute(hash, key, {});
      if (run.status === 'ok') assert.equal(run.result, 1);
      else assert.fail(JSON.stringify(run));
    });

    for (const c of fixtures.cases ?? []) {
      it(`offers scripts: ${c.name}`, testOptions, async () => {
        const options = c.compileOptions ?? fixtures.compileOptions;
        const hash = scriptHashOf(runtime.language, c.source, options);
        const prepared = await runtime.prepare({ scriptHash: hash, source: c.source, ...(options ? { compileOptions: options } : {}) });
        assert.equal(prepared.ok, true, `prepare failed: ${JSON.stringify(prepared)}`);
        const run = await execute(hash, uniqueKey('case'), c.params ?? {});
        assert.equal(run.status, 'ok', JSON.stringify(run));
        if (run.status !== 'ok') return;
        if (c.check) c.check(run.result);
        else assert.deepEqual(run.result, c.result);
      });
    }

    it('still reports up after all of the above', () => {
      assert.equal(runtime.health().status, 'up');
    });
  });
}

export interface HarnessRunOptions {
  readonly timeoutMs?: number;
  readonly instanceKey?: string;
  readonly compileOptions?: Record<string, unknown>;
}

/**
 * Small helpers over one runtime of `language`, for each runtime's own tests: prepare by source,
 * execute by hash with a fresh instance key, and the usual expectations (ok, a compile failure at
 * prepare, a script error at execute). `defaultCompileOptions` go with every prepare that names none.
 */
export function runtimeHarness(language: string, runtime: () => Runtime, defaultCompileOptions?: Record<string, unknown>) {
  let sequence = 0;
  const key = (label = 'k'): string => `${label}-${++sequence}`;
  async function prepare(source: string, compileOptions = defaultCompileOptions, artifact?: Uint8Array): Promise<{ hash: string; result: PrepareResult }> {
    const hash = scriptHashOf(language, source, compileOptions);
    const result = await runtime().prepare({ scriptHash: hash, source, ...(compileOptions ? { compileOptions } : {}), ...(artifact ? { artifact } : {}) });
    return { hash, result };
  }
  function executeHash(hash: string, params: unknown = {}, timeoutMs = 5000, instanceKey = key()): Promise<InvocationResult> {
    return runtime().execute({ scriptHash: hash, instanceKey, event: { params, context: { env: 'test', user_id: 'u-1' }, request_id: 'req-1' }, timeoutMs });
  }
  async function run(source: string, params: unknown = {}, options: HarnessRunOptions = {}): Promise<InvocationResult> {
    const { hash, result } = await prepare(source, options.compileOptions);
    assert.equal(result.ok, true, `prepare failed: ${JSON.stringify(result)}`);
    return executeHash(hash, params, options.timeoutMs, options.instanceKey);
  }
  async function ok(source: string, params: unknown = {}, options: HarnessRunOptions = {}): Promise<unknown> {
    const result = await run(source, params, options);
    if (result.status !== 'ok') assert.fail(`expected ok, got ${JSON.stringify(result)}`);
    return result.result;
  }
  /** The script must not compile: its CompileFailure. */
  async function compileFailure(source: string, compileOptions?: Record<string, unknown>): Promise<CompileFailure> {
    const { result } = await prepare(source, compileOptions);
    if (result.ok) assert.fail(`expected prepare to fail for ${source}`);
    return result.error;
  }
  /** The script must compile and then fail when run: its ScriptError. */
  async function scriptError(source: string, params: unknown = {}, options: HarnessRunOptions = {}): Promise<ScriptError> {
    const result = await run(source, params, options);
    if (result.status !== 'error') assert.fail(`expected error, got ${JSON.stringify(result)}`);
    return result.error;
  }
  return { key, prepare, executeHash, run, ok, compileFailure, scriptError };
}
