import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ServiceError } from '../../src/errors/service-error.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import { NodejsRuntime, type NodejsRuntimeOptions } from '../../src/runtimes/nodejs/nodejs-runtime.js';
import type { InvocationResult } from '../../src/runtimes/runtime.js';
import { runRuntimeContract, runtimeHarness, scriptHashOf } from './contract.js';
import { nodejsFixtures } from './nodejs-fixtures.js';
import { waitFor } from '../helpers/wait.js';
import { NODEJS_DEFAULTS } from '../helpers/defaults.js';

/** A number from the runtime's health details (0 when absent). */
function detail(runtime: NodejsRuntime, key: string): number {
  return Number(runtime.health().details?.[key] ?? 0);
}


function newRuntime(options: Partial<NodejsRuntimeOptions> = {}): NodejsRuntime {
  return new NodejsRuntime({ ...NODEJS_DEFAULTS, logger: createSilentLogger(), poolSize: 2, maxPoolSize: 4, memoryLimitMb: 64, ...options });
}

runRuntimeContract('nodejs', () => Promise.resolve(newRuntime()), nodejsFixtures);


describe('nodejs runtime', () => {
  let runtime: NodejsRuntime;
  const h = runtimeHarness('nodejs', () => runtime);

  before(async () => {
    runtime = newRuntime({ maxLogEntries: 5, maxLogBytes: 200, maxResultBytes: 1000 });
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
  });

  describe('timers and the job queue', () => {
    // The callback form, ordered timers, setInterval/setImmediate/queueMicrotask: the shared
    // contract's cases (nodejs-fixtures.ts), run here and over gRPC.
    it('gives Node.js-style handles (unref, ref, hasRef, a number)', async () => {
      assert.deepEqual(await h.ok('const t = setTimeout(() => {}, 1000).unref();\nconst kept = t.hasRef();\nclearTimeout(Number(t));\nreturn [typeof t.ref, kept, typeof +t];'), ['function', true, 'number']);
    });

    it('restarts a refreshed timer with its own delay', async () => {
      const source = 'const started = Date.now();\nsetTimeout(() => {}, 5);\nawait new Promise((resolve) => setTimeout(resolve, 60).refresh());\nreturn Date.now() - started >= 60;';
      assert.equal(await h.ok(source), true);
    });

    it('fails the invocation with an exception nobody catches in a timer', async () => {
      const error = await h.scriptError('await new Promise(() => setTimeout(() => { throw new TypeError("late failure"); }, 5));');
      assert.equal(error.name, 'TypeError');
      assert.equal(error.message, 'late failure');
    });

    it('ends with the deadline when the awaited timer is due after it', async () => {
      const result = await h.run('await new Promise((r) => setTimeout(r, 5000));\nreturn 1;', {}, { timeoutMs: 150 });
      assert.equal(result.status, 'timeout');
    });
  });

  describe('script forms', () => {
    it('runs a function body with event, params and context in scope', async () => {
      assert.equal(await h.ok('return event.params.a + params.b + context.user_id + event.request_id;', { a: 1, b: 2 }), '3u-1req-1');
    });

    it('allows await in a function body', async () => {
      assert.equal(await h.ok('const v = await Promise.resolve(params.a);\nawait null;\nreturn v * 2;', { a: 21 }), 42);
    });

    it('runs module.exports = async (event) => ...', async () => {
      assert.equal(await h.ok('module.exports = async (event) => event.params.a * 10;', { a: 4 }), 40);
    });

    it('runs exports.handler', async () => {
      assert.equal(await h.ok('exports.handler = async function (event) { return event.params.text.toUpperCase(); };', { text: 'hi' }), 'HI');
    });

    it('runs module.exports.handler', async () => {
      assert.deepEqual(await h.ok('module.exports.handler = (event) => ({ got: event.params });', { x: 1 }), { got: { x: 1 } });
    });

    it('runs a synchronous module.exports function', async () => {
      assert.deepEqual(await h.ok('module.exports = function (event) { return [event.params.a, typeof require]; };', { a: 'x' }), ['x', 'function']);
    });

    it('runs the callback form', async () => {
      assert.equal(await h.ok('module.exports = (event, callback) => callback(null, event.params.a + 1);', { a: 1 }), 2);
    });

    it('runs the callback form when the callback is called later', async () => {
      assert.equal(await h.ok('module.exports = (event, callback) => { Promise.resolve().then(() => callback(null, "later")); };'), 'later');
    });

    it("runs Lambda's (event, context, callback) form", async () => {
      assert.equal(await h.ok('module.exports = (event, context, callback) => callback(null, context.env);'), 'test');
    });

    it('reports callback(err) as an error', async () => {
      const result = await h.run('module.exports = (event, callback) => {\n  callback(new TypeError("bad input"));\n};');
      assert.equal(result.status, 'error');
      if (result.status !== 'error') return;
      assert.equal(result.error.name, 'TypeError');
      assert.equal(result.error.message, 'bad input');
      assert.equal(result.error.line, 2);
    });

    it('reports callback("text") as an error with that message', async () => {
      const result = await h.run('module.exports = (event, cb) => cb("plain failure");');
      assert.equal(result.status, 'error');
      if (result.status === 'error') assert.equal(result.error.message, 'plain failure');
    });

    it('uses only the first callback call', async () => {
      assert.equal(await h.ok('module.exports = (event, cb) => { cb(null, 1); cb(null, 2); cb(new Error("x")); };'), 1);
    });

    it('runs the module body once per instance (warm state), not per call', async () => {
      const source = 'let loads = (globalThis.loads ?? 0) + 1;\nglobalThis.loads = loads;\nmodule.exports = () => loads;';
      const instanceKey = h.key('warm');
      assert.equal(await h.ok(source, {}, { instanceKey }), 1);
      assert.equal(await h.ok(source, {}, { instanceKey }), 1);
    });

    it('turns undefined into null', async () => {
      assert.equal(await h.ok('const x = 1;'), null);
      assert.equal(await h.ok('module.exports = async () => undefined;'), null);
    });

    it('fails prepare for a module that exports no function', async () => {
      const error = await h.compileFailure('module.exports = { notAHandler: 42 };');
      assert.match(error.message, /exports no function/);
    });

    it('fails prepare when the module body throws, with its line', async () => {
      const error = await h.compileFailure('const config = null;\nconst port = config.port;\nmodule.exports = () => port;');
      assert.equal(error.kind, 'TypeError');
      assert.equal(error.line, 2);
      assert.match(error.message, /top-level code failed/);
    });

    it('fails prepare when the module body never ends', async () => {
      const error = await h.compileFailure('for (;;) {}\nmodule.exports = () => 1;');
      assert.equal(error.kind, 'TimeoutError');
    });

    it('fails prepare when the module body exhausts memory, and keeps serving', async () => {
      const error = await h.compileFailure('const hoard = [];\nfor (;;) hoard.push(new Array(1e5).fill(0.5));\nmodule.exports = () => 1;');
      assert.equal(error.kind, 'MemoryLimitError');
      assert.match(error.message, /memory limit of 64 MiB/);
      assert.equal(await h.ok('return "fine";'), 'fine');
    });

    it('shares one prepare between concurrent prepares of a script', async () => {
      const source = `return ${Math.random()};`;
      const results = await Promise.all(Array.from({ length: 5 }, () => h.prepare(source)));
      for (const { result } of results) assert.equal(result.ok, true);
      // One compile: every caller got the very same answer.
      assert.equal(new Set(results.map(({ result }) => result)).size, 1);
    });

    it('requires no module the sandbox lacks: a clear message names it', async () => {
      const result = await h.run('module.exports = () => require("fs");');
      assert.equal(result.status, 'error');
      if (result.status === 'error') assert.match(result.error.message, /the Node\.js module "fs" is not available in the sandbox/);
      const missing = await h.run('return require("left-pad");');
      assert.equal(missing.status, 'error');
      if (missing.status === 'error') assert.match(missing.error.message, /Cannot find module 'left-pad'.*declared in "dependencies"/);
    });
  });

  describe('errors', () => {
    it('reports syntax errors with line and column in the user coordinates', async () => {
      const error = await h.compileFailure('const a = 1;\n  let b = ;\nreturn a;');
      assert.equal(error.kind, 'SyntaxError');
      assert.equal(error.line, 2);
      assert.equal(error.column, 11);
      assert.match(error.message, /Unexpected token/);
      assert.ok(!/\[script\.js/.test(error.message), error.message);
      assert.match(error.diagnostics ?? '', /script\.js:2:11/);
    });

    it('reports syntax errors on the first line with the right column', async () => {
      const error = await h.compileFailure('return 1 +* 2;');
      assert.equal(error.line, 1);
      assert.equal(error.column, 11);
    });

    it('reports syntax errors of module scripts in the user coordinates', async () => {
      const error = await h.compileFailure('module.exports = async (event) => {\n  return event.params.a +;\n};');
      assert.equal(error.line, 2);
      assert.equal(error.column, 26);
    });

    it('reports an unclosed block at the end of the script', async () => {
      const error = await h.compileFailure('if (params.a) {\n  return 1;');
      assert.equal(error.message, 'Unexpected end of input');
      assert.equal(error.line, 2);
    });

    it('reports an unmatched closing brace where it is', async () => {
      const error = await h.compileFailure('return 1;\n}');
      assert.equal(error.message, "Unexpected token '}'");
      assert.equal(error.line, 2);
      assert.equal(error.column, 1);
    });

    it('points a thrown error line, column and stack at the user script', async () => {
      const source = 'function inner() {\n  throw new RangeError("too far");\n}\nmodule.exports = async (event) => {\n  await null;\n  return inner();\n};';
      const result = await h.run(source);
      assert.equal(result.status, 'error');
      if (result.status !== 'error') return;
      assert.equal(result.error.name, 'RangeError');
      assert.equal(result.error.message, 'too far');
      assert.equal(result.error.line, 2);
      assert.equal(result.error.column, 9);
      const stack = result.error.stack ?? '';
      assert.match(stack, /^RangeError: too far\n/);
      assert.match(stack, /at inner \(script\.js:2:9\)/);
      assert.match(stack, /script\.js:6:10/);
      assert.ok(!stack.includes('bootstrap'), stack);
      assert.ok(!stack.includes('new Promise'), stack);
    });

    it('reports errors of a function body at the right line', async () => {
      const result = await h.run('const a = 1;\n\nnull.x;');
      assert.equal(result.status, 'error');
      if (result.status !== 'error') return;
      assert.equal(result.error.name, 'TypeError');
      assert.equal(result.error.line, 3);
      assert.equal(result.error.column, 6);
    });

    it('reports thrown non-errors', async () => {
      const text = await h.run('throw "just a string";');
      assert.equal(text.status, 'error');
      if (text.status === 'error') assert.equal(text.error.message, 'just a string');
      const object = await h.run('throw { code: 42 };');
      assert.equal(object.status, 'error');
      if (object.status === 'error') assert.match(object.error.message, /42/);
    });

    it('survives hostile error objects', async () => {
      const source =
        'const e = new Error("x");\nObject.defineProperty(e, "message", { get() { throw new Error("nope"); } });\n' +
        'Object.defineProperty(e, "stack", { get() { throw new Error("nope"); } });\nthrow e;';
      const result = await h.run(source);
      assert.equal(result.status, 'error');
      const proxy = await h.run('throw new Proxy({}, { get() { throw new Error("trap"); } });');
      assert.equal(proxy.status, 'error');
    });

    it('rejects results without a JSON form, with a clear message', async () => {
      const cases: Array<[string, RegExp]> = [
        ['return 10n;', /result is not JSON-serialisable: a BigInt/],
        ['return { n: 1n };', /a BigInt \(at key "n"\)/],
        ['return () => 1;', /result is not JSON-serialisable: a function/],
        ['return { f() {} };', /a function \(at key "f"\)/],
        ['return Symbol("s");', /result is not JSON-serialisable: a symbol/],
        ['const a = { b: {} };\na.b.a = a;\nreturn a;', /result is not JSON-serialisable: it contains a circular reference/],
        ['return NaN;', /result is not JSON-serialisable: NaN/],
        ['return [1, Infinity];', /result is not JSON-serialisable: Infinity/],
      ];
      for (const [source, message] of cases) {
        const result = await h.run(source);
        assert.equal(result.status, 'error', source);
        if (result.status === 'error') assert.match(result.error.message, message, source);
      }
    });

    it('returns JSON values as they are', async () => {
      assert.deepEqual(await h.ok('return { s: "x", n: 1.5, b: false, z: null, a: [1, "2"], d: new Date(0) };'), {
        s: 'x',
        n: 1.5,
        b: false,
        z: null,
        a: [1, '2'],
        d: '1970-01-01T00:00:00.000Z',
      });
    });
  });

  describe('limits', () => {
    it('captures console methods and formats objects as JSON', async () => {
      const result = await h.run('console.log("a", 1, { b: [2] });\nconsole.error(new Error("e1"));\nconsole.warn("%s=%d", "n", 5);\nconsole.info(null, undefined, 3n);');
      assert.equal(result.status, 'ok');
      assert.equal(result.logs[0], 'a 1 {"b":[2]}');
      assert.match(result.logs[1] ?? '', /^Error: e1\n\s+at script\.js:2:15/);
      assert.equal(result.logs[2], 'n=5');
      assert.equal(result.logs[3], 'null undefined 3n');
    });

    it('formats cyclic objects without failing', async () => {
      const result = await h.run('const a = { name: "a" };\na.self = a;\nconsole.log(a);');
      assert.deepEqual(result.logs, ['{"name":"a","self":"[Circular]"}']);
    });

    it('bounds the number of log entries, with a marker', async () => {
      const result = await h.run('for (let i = 0; i < 1000; i++) console.log("line " + i);');
      assert.equal(result.status, 'ok');
      assert.equal(result.logs.length, 6);
      assert.deepEqual(result.logs.slice(0, 5), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
      assert.match(result.logs[5] ?? '', /logs truncated: 995 more log entries dropped/);
    });

    it('bounds the bytes of logs, with a marker', async () => {
      const result = await h.run('console.log("é".repeat(150));\nconsole.log("more");');
      assert.equal(result.status, 'ok');
      const kept = result.logs.slice(0, -1);
      assert.ok(Buffer.byteLength(kept.join(''), 'utf8') <= 200, JSON.stringify(result.logs));
      assert.equal(kept[0]?.length, 100);
      assert.match(result.logs.at(-1) ?? '', /logs truncated/);
    });

    it('never writes script logs to the host stdout or stderr', async () => {
      const marker = `marker-${Math.random()}`;
      const seen: string[] = [];
      const originalOut = process.stdout.write.bind(process.stdout);
      const originalErr = process.stderr.write.bind(process.stderr);
      const capture = (chunk: unknown): boolean => {
        seen.push(String(chunk));
        return true;
      };
      process.stdout.write = capture;
      process.stderr.write = capture;
      try {
        await h.run(`console.log(${JSON.stringify(marker)}); console.error(${JSON.stringify(marker)});`);
      } finally {
        process.stdout.write = originalOut;
        process.stderr.write = originalErr;
      }
      assert.ok(!seen.join('').includes(marker));
    });

    it('refuses a result over maxResultBytes with output_limit', async () => {
      const result = await h.run('return "x".repeat(2000);');
      assert.equal(result.status, 'output_limit');
      if (result.status === 'output_limit') {
        assert.equal(result.limitBytes, 1000);
        assert.match(result.message, /over the limit of 1000 bytes/);
      }
      const multibyte = await h.run('return "€".repeat(400);');
      assert.equal(multibyte.status, 'output_limit', 'counts UTF-8 bytes, not characters');
      assert.equal(await h.ok('return "x".repeat(900);'), 'x'.repeat(900));
    });

    it('times out in the middle of an await chain', async () => {
      const started = performance.now();
      const result = await h.run('console.log("started");\nawait null;\nawait Promise.resolve();\nfor (;;) {}', {}, { timeoutMs: 300 });
      assert.equal(result.status, 'timeout');
      if (result.status === 'timeout') assert.equal(result.limitMs, 300);
      assert.ok(performance.now() - started < 1300);
      assert.deepEqual(result.logs, ['started']);
    });

    it('times out a microtask loop', async () => {
      const result = await h.run('for (;;) await null;', {}, { timeoutMs: 300 });
      assert.equal(result.status, 'timeout');
    });

    it('times out a promise that never settles, and keeps the isolate', async () => {
      const restartsBefore = runtime.health().details?.restarts;
      const started = performance.now();
      const result = await h.run('console.log("waiting");\nawait new Promise(() => {});', {}, { timeoutMs: 300 });
      const elapsed = performance.now() - started;
      assert.equal(result.status, 'timeout');
      assert.ok(elapsed >= 300 && elapsed < 1300, `took ${elapsed} ms`);
      assert.deepEqual(result.logs, ['waiting']);
      assert.equal(runtime.health().details?.restarts, restartsBefore);
    });

    it('times out a callback that is never called', async () => {
      const result = await h.run('module.exports = (event, callback) => {};', {}, { timeoutMs: 200 });
      assert.equal(result.status, 'timeout');
    });

    it('starts an instance afresh after a timeout', async () => {
      const source = 'let n = 0;\nmodule.exports = async (event) => {\n  n += 1;\n  if (event.params.spin) for (;;) {}\n  return n;\n};';
      const instanceKey = h.key('after-timeout');
      assert.equal(await h.ok(source, {}, { instanceKey }), 1);
      assert.equal(await h.ok(source, {}, { instanceKey }), 2);
      const result = await h.run(source, { spin: true }, { instanceKey, timeoutMs: 200 });
      assert.equal(result.status, 'timeout');
      assert.equal(await h.ok(source, {}, { instanceKey }), 1);
    });

    it('does not stall other sessions while one runs long', async () => {
      const loop = h.run('for (;;) {}', {}, { timeoutMs: 1500 }).then((result) => ({ result, at: performance.now() }));
      await waitFor('the loop to be running', () => detail(runtime, 'busy') >= 1);
      const finished: number[] = [];
      for (let i = 0; i < 20; i++) {
        assert.equal(await h.ok('return params.i * 2;', { i }, { instanceKey: `other-${i % 3}` }), i * 2);
        finished.push(performance.now());
      }
      const { result, at } = await loop;
      assert.equal(result.status, 'timeout');
      assert.ok(Math.max(...finished) < at, 'the other calls completed while the loop ran');
    });

    it('reports memory_limit for an ArrayBuffer bomb', async () => {
      const result = await h.run('const keep = [];\nfor (;;) keep.push(new ArrayBuffer(8 * 1024 * 1024));');
      assert.equal(result.status, 'memory_limit');
      if (result.status === 'memory_limit') assert.match(result.message, /64 MiB/);
    });

    it('survives 20 memory bombs in a row and stays healthy', async () => {
      const restartsBefore = Number(runtime.health().details?.restarts);
      for (let i = 0; i < 20; i++) {
        const result = await h.run(`// bomb ${i}\nconst a = [];\nfor (;;) a.push(new Array(1e5).fill(${i}.5));`);
        assert.equal(result.status, 'memory_limit', JSON.stringify(result));
        if (result.status === 'memory_limit') {
          assert.equal(result.limitBytes, 64 * 1024 * 1024);
          assert.match(result.message, /memory limit of 64 MiB/);
        }
      }
      const health = runtime.health();
      assert.equal(health.status, 'up');
      assert.equal(Number(health.details?.restarts) - restartsBefore, 20);
      assert.ok(Number(health.details?.isolates) >= 2);
      assert.equal(await h.ok('return 7;'), 7);
    });

    it('reports duration and heap use', async () => {
      const result = await h.run('return 1;');
      assert.equal(typeof result.stats.durationMs, 'number');
      assert.ok((result.stats.memoryUsageBytes ?? 0) > 0);
    });
  });

  describe('pool', () => {
    it('reports its state in health', () => {
      const health = runtime.health();
      assert.equal(health.status, 'up');
      for (const field of ['isolates', 'busy', 'inFlight', 'queued', 'restarts', 'scripts', 'maxPipelinedPerIsolate']) {
        assert.equal(typeof health.details?.[field], 'number', field);
      }
      const perIsolate = health.details?.perIsolate as Array<Record<string, unknown>>;
      assert.equal(perIsolate.length, health.details?.isolates);
      for (const isolate of perIsolate) {
        assert.equal(typeof isolate.inFlight, 'number');
        assert.equal(typeof isolate.pipelined, 'boolean');
      }
    });
  });
});

describe('nodejs runtime with one isolate', () => {
  let runtime: NodejsRuntime;
  const h = runtimeHarness('nodejs', () => runtime);

  before(async () => {
    runtime = newRuntime({ poolSize: 1, maxPoolSize: 1, contextsPerIsolate: 3 });
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
  });

  it('queues calls and serves them all', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => h.ok('return params.i;', { i }, { instanceKey: `q-${i % 4}` })));
    assert.deepEqual(
      results,
      Array.from({ length: 30 }, (_, i) => i),
    );
    assert.equal(runtime.health().details?.isolates, 1);
  });

  it('refuses a call that waited in the queue longer than its time limit', async () => {
    await h.prepare('return 1;');
    // Prepared first, so that the one isolate is busy only once the loop runs on it.
    await h.prepare('for (;;) {}');
    const loop = h.run('for (;;) {}', {}, { timeoutMs: 600 });
    await waitFor('the loop to be running', () => detail(runtime, 'busy') === 1);
    await assert.rejects(h.run('return 1;', {}, { timeoutMs: 100 }), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE');
    assert.equal((await loop).status, 'timeout');
    assert.equal(runtime.health().details?.queued, 0);
  });

  it('rebuilds the warm contexts another instance lost to a memory kill', async () => {
    const counter = nodejsFixtures.counter;
    const instanceKey = h.key('victim');
    assert.equal(await h.ok(counter, {}, { instanceKey }), 1);
    assert.equal(await h.ok(counter, {}, { instanceKey }), 2);
    const bomb = await h.run(nodejsFixtures.memoryBomb);
    assert.equal(bomb.status, 'memory_limit');
    // Its isolate is gone: the instance starts afresh, transparently.
    assert.equal(await h.ok(counter, {}, { instanceKey }), 1);
  });

  it('keeps at most contextsPerIsolate warm contexts, evicting the least recently used', async () => {
    const keys = ['lru-a', 'lru-b', 'lru-c', 'lru-d'].map((label) => h.key(label));
    for (const instanceKey of keys) assert.equal(await h.ok(nodejsFixtures.counter, {}, { instanceKey }), 1);
    assert.ok(Number(runtime.health().details?.contexts) <= 3);
    // The most recent ones are still warm, the oldest was evicted.
    assert.equal(await h.ok(nodejsFixtures.counter, {}, { instanceKey: keys[3] }), 2);
    assert.equal(await h.ok(nodejsFixtures.counter, {}, { instanceKey: keys[0] }), 1);
  });
});

describe('nodejs runtime pool growth', () => {
  it('grows while all isolates are busy and shrinks back when idle', async () => {
    const runtime = newRuntime({ poolSize: 1, maxPoolSize: 3, idleIsolateMs: 1000 });
    const h = runtimeHarness('nodejs', () => runtime);
    await runtime.start();
    try {
      const spin = 'const end = Date.now() + 150;\nwhile (Date.now() < end) {}\nreturn params.i;';
      const results = await Promise.all([0, 1, 2, 3].map((i) => h.ok(spin, { i })));
      assert.deepEqual(results, [0, 1, 2, 3]);
      assert.equal(runtime.health().details?.isolates, 3);
      await waitFor('the idle isolates above the pool size to be disposed', () => detail(runtime, 'isolates') === 1, 10_000);
      assert.equal(runtime.health().details?.isolates, 1);
      assert.equal(runtime.health().details?.restarts, 0);
      assert.equal(await h.ok('return 5;'), 5);
    } finally {
      await runtime.stop();
    }
  });
});

describe('nodejs runtime spare isolates', () => {
  it('keeps a spare isolate ready for the next new session, with a context of the latest script built ahead, and gives it to one session only', async () => {
    const runtime = newRuntime({ poolSize: 1, maxPoolSize: 5, idleIsolateMs: 60_000 });
    const h = runtimeHarness('nodejs', () => runtime);
    const contexts = (): number[] => (runtime.health().details?.perIsolate as Array<{ contexts: number }>).map((slot) => slot.contexts);
    const spareReady = (isolates: number) => () => detail(runtime, 'isolates') === isolates && detail(runtime, 'inFlight') === 0;
    await runtime.start();
    try {
      const source = 'console.log("module body ran");\nlet n = 0;\nmodule.exports = () => [++n, typeof globalThis.marker];';
      // The first session takes the only isolate: a spare is made once its call is over.
      assert.deepEqual(await h.ok(source), [1, 'undefined']);
      await waitFor('a spare isolate, warmed', spareReady(2));
      assert.deepEqual(contexts(), [1, 0]);
      // The next session takes the spare's context built ahead: fresh module state, the module body's logs in its first call.
      const second = await h.run(source);
      assert.equal(second.status, 'ok', JSON.stringify(second));
      if (second.status === 'ok') {
        assert.deepEqual(second.result, [1, 'undefined']);
        assert.deepEqual(second.logs, ['module body ran']);
      }
      assert.deepEqual(contexts().slice(0, 2), [1, 1]);
      await waitFor('another spare', spareReady(3));
      // A session of another script on that spare gets a context of its own, nothing of the one built ahead.
      assert.deepEqual(await h.ok('globalThis.marker = 1;\nmodule.exports = () => [typeof n, typeof module.exports];'), ['undefined', 'function']);
      // And a third session of the first script is not given the second's context.
      await waitFor('a spare again', spareReady(4));
      assert.deepEqual(await h.ok(source), [1, 'undefined']);
    } finally {
      await runtime.stop();
    }
  });
});

describe('nodejs runtime lifecycle', () => {
  it('refuses calls before start and after stop', async () => {
    const runtime = newRuntime();
    await assert.rejects(runtime.prepare({ scriptHash: 'x', source: 'return 1;' }), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE');
    assert.equal(runtime.health().status, 'unavailable');
    await runtime.start();
    await runtime.prepare({ scriptHash: 'x', source: 'return 1;' });
    await runtime.stop();
    assert.equal(runtime.health().status, 'unavailable');
    await assert.rejects(
      runtime.execute({ scriptHash: 'x', instanceKey: 'k', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 100 }),
      (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE',
    );
    runtime.release('k');
  });

  it('ends in-flight calls with RUNTIME_UNAVAILABLE when stop runs out of grace', async () => {
    const runtime = newRuntime({ poolSize: 1, maxPoolSize: 1, stopGraceMs: 100 });
    await runtime.start();
    await runtime.prepare({ scriptHash: 'loop', source: 'for (;;) {}' });
    const event = { params: {}, context: {}, request_id: 'r' };
    const calls = Promise.allSettled([
      runtime.execute({ scriptHash: 'loop', instanceKey: 'a', event, timeoutMs: 10_000 }),
      runtime.execute({ scriptHash: 'loop', instanceKey: 'b', event, timeoutMs: 10_000 }),
    ]);
    await waitFor('both loops to be running or queued', () => detail(runtime, 'inFlight') + detail(runtime, 'queued') === 2);
    const started = performance.now();
    await runtime.stop();
    assert.ok(performance.now() - started < 2000);
    for (const call of await calls) {
      assert.equal(call.status, 'rejected');
      if (call.status === 'rejected') {
        assert.ok(call.reason instanceof ServiceError && call.reason.code === 'RUNTIME_UNAVAILABLE', String(call.reason));
      }
    }
  });

  it('lets in-flight calls finish within the grace period', async () => {
    const runtime = newRuntime({ poolSize: 1, maxPoolSize: 1, stopGraceMs: 5000 });
    await runtime.start();
    await runtime.prepare({ scriptHash: 'spin', source: 'const end = Date.now() + 200;\nwhile (Date.now() < end) {}\nreturn "done";' });
    const running = runtime.execute({ scriptHash: 'spin', instanceKey: 'a', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 5000 });
    await waitFor('the call to be running', () => detail(runtime, 'busy') >= 1);
    await runtime.stop();
    const result = await running;
    assert.equal(result.status, 'ok');
  });
});

/** Direct `execute` calls, issued without awaiting anything first, so that health shows where they went. */
function pipelineHarness(runtime: () => NodejsRuntime) {
  let sequence = 0;
  async function prepared(source: string): Promise<string> {
    const hash = scriptHashOf('nodejs', source);
    const result = await runtime().prepare({ scriptHash: hash, source });
    assert.equal(result.ok, true, `prepare failed: ${JSON.stringify(result)}`);
    return hash;
  }
  function exec(hash: string, instanceKey: string, params: unknown, timeoutMs = 5000): Promise<InvocationResult> {
    return runtime().execute({ scriptHash: hash, instanceKey, event: { params, context: {}, request_id: `p-${++sequence}` }, timeoutMs });
  }
  function perIsolate(): Array<{ id: number; inFlight: number; pipelined: boolean }> {
    return runtime().health().details?.perIsolate as Array<{ id: number; inFlight: number; pipelined: boolean }>;
  }
  /** The most calls in flight on one isolate, right now. */
  function deepest(): number {
    return Math.max(0, ...perIsolate().map((isolate) => isolate.inFlight));
  }
  /** Two calls of the session issued together share one isolate: it is pipelined. */
  async function isPipelined(hash: string, instanceKey: string, params: unknown): Promise<boolean> {
    const pair = [exec(hash, instanceKey, params), exec(hash, instanceKey, params)];
    const shared = deepest() >= 2;
    for (const result of await Promise.all(pair)) assert.equal(result.status, 'ok', JSON.stringify(result));
    return shared;
  }
  /** Runs fast calls until the session's calls are pipelined (a few on an idle machine). */
  async function warmUp(hash: string, instanceKey: string, params: unknown): Promise<void> {
    for (let i = 0; i < 100; i++) if (await isPipelined(hash, instanceKey, params)) return;
    assert.fail('the session never became pipelined');
  }
  return { prepared, exec, perIsolate, deepest, isPipelined, warmUp };
}

describe('nodejs runtime pipelining', () => {
  let runtime: NodejsRuntime;
  const p = pipelineHarness(() => runtime);
  let sessions = 0;
  const session = (label: string): string => `${label}-${++sessions}`;

  before(async () => {
    runtime = newRuntime({ poolSize: 2, maxPoolSize: 4 });
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
  });

  it('starts a new session one call at a time', async () => {
    const hash = await p.prepared('return params.i;');
    const instanceKey = session('new');
    const calls = [0, 1, 2].map((i) => p.exec(hash, instanceKey, { i }));
    assert.ok(p.deepest() <= 1, JSON.stringify(p.perIsolate()));
    assert.deepEqual(
      (await Promise.all(calls)).map((result) => (result.status === 'ok' ? result.result : result.status)),
      [0, 1, 2],
    );
  });

  it('returns the right result and only its own logs to each of 200 concurrent calls of one session', async () => {
    const source =
      'module.exports = async (event) => {\n  console.log("start " + event.params.i);\n  await null;\n  await Promise.resolve();\n' +
      '  console.log("end " + event.params.i);\n  return { i: event.params.i, id: event.request_id };\n};';
    const hash = await p.prepared(source);
    const instanceKey = session('many');
    await p.warmUp(hash, instanceKey, { i: -1 });
    const calls = Array.from({ length: 200 }, (_, i) => p.exec(hash, instanceKey, { i }));
    // Pipelined up to the limit on one isolate, not one call per isolate.
    assert.equal(p.deepest(), 8, JSON.stringify(p.perIsolate()));
    assert.ok(p.perIsolate().some((isolate) => isolate.pipelined));
    const results = await Promise.all(calls);
    results.forEach((result, i) => {
      assert.equal(result.status, 'ok', JSON.stringify(result));
      if (result.status !== 'ok') return;
      assert.equal((result.result as { i: number }).i, i);
      assert.deepEqual(result.logs, [`start ${i}`, `end ${i}`]);
    });
    assert.equal(new Set(results.map((result) => (result.status === 'ok' ? (result.result as { id: string }).id : ''))).size, 200);
    assert.equal(runtime.health().details?.inFlight, 0);
  });

  it('runs the timers of a call pipelined right behind one that left a timer pending', async () => {
    const hash = await p.prepared('module.exports = async (event) => {\n  if (event.params.leave) {\n    setTimeout(() => {}, 20);\n    return "left";\n  }\n  await new Promise((resolve) => setTimeout(resolve, 100));\n  return "waited";\n};');
    const instanceKey = session('timers');
    await p.warmUp(hash, instanceKey, { leave: true });
    const calls = [p.exec(hash, instanceKey, { leave: true }, 2000), p.exec(hash, instanceKey, {}, 2000)];
    assert.ok(p.deepest() >= 2, JSON.stringify(p.perIsolate()));
    assert.deepEqual(
      (await Promise.all(calls)).map((result) => (result.status === 'ok' ? result.result : result.status)),
      ['left', 'waited'],
    );
  });

  it('keeps an isolate that runs one session pipelined busy for every other session', async () => {
    const hash = await p.prepared('return params.i + 1;');
    const hot = session('hot');
    await p.warmUp(hash, hot, { i: 0 });
    const hotCalls = Array.from({ length: 8 }, (_, i) => p.exec(hash, hot, { i }));
    const pipelined = p.perIsolate().find((isolate) => isolate.inFlight === 8);
    assert.ok(pipelined, JSON.stringify(p.perIsolate()));
    const other = p.exec(hash, session('other'), { i: 41 });
    // The other session's call went to another isolate, not into the pipeline's queue.
    assert.equal(p.perIsolate().find((isolate) => isolate.id === pipelined.id)?.inFlight, 8);
    assert.equal(p.perIsolate().reduce((sum, isolate) => sum + isolate.inFlight, 0), 9);
    const result = await other;
    assert.equal(result.status === 'ok' ? result.result : result.status, 42);
    for (const call of await Promise.all(hotCalls)) assert.equal(call.status, 'ok');
  });

  it('times out only the runaway call of a pipeline, then runs the session one call at a time', async () => {
    const source =
      'module.exports = async (event) => {\n  console.log("start " + event.params.i);\n  if (event.params.spin) for (;;) {}\n  return event.params.i;\n};';
    const hash = await p.prepared(source);
    const instanceKey = session('runaway');
    await p.warmUp(hash, instanceKey, { i: -1 });
    const restartsBefore = runtime.health().details?.restarts;
    const calls = Array.from({ length: 8 }, (_, i) => p.exec(hash, instanceKey, { i, spin: i === 3 }, i === 3 ? 300 : 5000));
    assert.equal(p.deepest(), 8, JSON.stringify(p.perIsolate()));
    const results = await Promise.all(calls);
    results.forEach((result, i) => {
      if (i === 3) {
        assert.equal(result.status, 'timeout', JSON.stringify(result));
        assert.deepEqual(result.logs, ['start 3']);
        return;
      }
      // The calls before it completed; those queued behind it ran again elsewhere.
      assert.equal(result.status, 'ok', `${i}: ${JSON.stringify(result)}`);
      if (result.status === 'ok') assert.equal(result.result, i);
      assert.deepEqual(result.logs, [`start ${i}`]);
    });
    assert.equal(runtime.health().details?.restarts, restartsBefore, 'isolated-vm stopped the call; the isolate lives on');
    // Fast again, but never pipelined again.
    for (let i = 0; i < 10; i++) assert.equal(await p.isPipelined(hash, instanceKey, { i }), false);
  });

  it('times out a pipelined call whose promise never settles, without holding up the calls behind it', async () => {
    const source =
      'module.exports = async (event) => {\n  console.log("start " + event.params.i);\n  if (event.params.hang) await new Promise(() => {});\n  return event.params.i;\n};';
    const hash = await p.prepared(source);
    const instanceKey = session('hang');
    await p.warmUp(hash, instanceKey, { i: -1 });
    const started = performance.now();
    const calls = Array.from({ length: 8 }, (_, i) => p.exec(hash, instanceKey, { i, hang: i === 2 }, 300).then((result) => ({ result, at: performance.now() - started })));
    const results = await Promise.all(calls);
    results.forEach(({ result, at }, i) => {
      if (i === 2) {
        assert.equal(result.status, 'timeout', JSON.stringify(result));
        assert.deepEqual(result.logs, ['start 2']);
        assert.ok(at >= 300 && at < 1300, `timed out after ${at} ms`);
        return;
      }
      assert.equal(result.status, 'ok', `${i}: ${JSON.stringify(result)}`);
      assert.deepEqual(result.logs, [`start ${i}`]);
      assert.ok(at < 300, `call ${i} took ${at} ms`);
    });
    assert.equal(await p.isPipelined(hash, instanceKey, { i: 0 }), false);
  });

  it('fails no call of session B, nor the calls queued behind it, when a pipelined call of session A hits the memory limit', async () => {
    const bombSource =
      'module.exports = async (event) => {\n  if (event.params.bomb) {\n    const hoard = [];\n    for (;;) hoard.push(new Array(100000).fill(1.5));\n  }\n  return event.params.i;\n};';
    const bombHash = await p.prepared(bombSource);
    const sumHash = await p.prepared('return params.i * 2;');
    const a = session('bomber');
    const b = session('bystander');
    await p.warmUp(bombHash, a, { i: -1 });
    await p.warmUp(sumHash, b, { i: 0 });
    const restartsBefore = Number(runtime.health().details?.restarts);

    let bombDone = false;
    const bystander: Array<{ i: number; result: InvocationResult }> = [];
    const worker = async (w: number): Promise<void> => {
      for (let n = 0; !bombDone || n < 20; n++) {
        const i = w * 100_000 + n;
        bystander.push({ i, result: await p.exec(sumHash, b, { i }) });
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await waitFor('the bystanders to be running', () => bystander.length > 0);
    const calls = Array.from({ length: 8 }, (_, i) => p.exec(bombHash, a, { i, bomb: i === 2 }, 10_000));
    assert.ok(p.perIsolate().some((isolate) => isolate.inFlight === 8 && isolate.pipelined), JSON.stringify(p.perIsolate()));
    const results = await Promise.all(calls);
    bombDone = true;
    await Promise.all(workers);

    // Only the bomb fails: the calls ahead of it completed, those queued behind it never started
    // on the lost isolate and ran again elsewhere.
    results.forEach((result, i) => {
      if (i === 2) assert.equal(result.status, 'memory_limit', JSON.stringify(result));
      else assert.equal(result.status === 'ok' ? result.result : result.status, i);
    });
    assert.ok(bystander.length >= 80);
    for (const { i, result } of bystander) {
      assert.equal(result.status, 'ok', JSON.stringify(result));
      if (result.status === 'ok') assert.equal(result.result, i * 2);
    }
    assert.equal(Number(runtime.health().details?.restarts) - restartsBefore, 1);
    assert.equal(runtime.health().status, 'up');
    // The bomber runs one call at a time from now on.
    assert.equal(await p.isPipelined(bombHash, a, { i: 0 }), false);
  });

  it('forgets the warm state of a released session even while its calls are pipelined', async () => {
    const hash = await p.prepared(nodejsFixtures.counter);
    const instanceKey = session('released');
    await p.warmUp(hash, instanceKey, {});
    const calls = Array.from({ length: 6 }, () => p.exec(hash, instanceKey, {}));
    runtime.release(instanceKey);
    for (const result of await Promise.all(calls)) assert.equal(result.status, 'ok');
    const fresh = await p.exec(hash, instanceKey, {});
    assert.equal(fresh.status === 'ok' ? fresh.result : fresh.status, 1);
  });

  it('does not pipeline a session whose calls take longer than a couple of milliseconds', async () => {
    const hash = await p.prepared('const end = Date.now() + 4;\nwhile (Date.now() < end) {}\nreturn params.i;');
    const instanceKey = session('slow');
    for (let i = 0; i < 8; i++) assert.equal(await p.isPipelined(hash, instanceKey, { i }), false);
  });
});

describe('nodejs runtime pipelining with a saturated pool', () => {
  it('keeps serving other sessions while one hot session keeps every isolate busy', async () => {
    const runtime = newRuntime({ poolSize: 1, maxPoolSize: 2 });
    const p = pipelineHarness(() => runtime);
    await runtime.start();
    try {
      const hash = await p.prepared('return params.i;');
      await p.warmUp(hash, 'hog', { i: 0 });
      let stop = false;
      let hogCalls = 0;
      const hog = async (): Promise<void> => {
        while (!stop) {
          const result = await p.exec(hash, 'hog', { i: hogCalls });
          assert.equal(result.status, 'ok');
          hogCalls += 1;
        }
      };
      const hogs = Array.from({ length: 40 }, hog);
      await waitFor('the hogs to be running', () => hogCalls >= 40);
      assert.equal(runtime.health().details?.isolates, 2);
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        const result = await p.exec(hash, `other-${i}`, { i }, 2000);
        assert.equal(result.status === 'ok' ? result.result : result.status, i);
        assert.ok(performance.now() - started < 1000, `another session waited ${performance.now() - started} ms`);
      }
      stop = true;
      await Promise.all(hogs);
      assert.ok(hogCalls > 100, `${hogCalls} calls of the hot session`);
    } finally {
      await runtime.stop();
    }
  });

  it('lets pipelined calls finish when stopping, and ends them with RUNTIME_UNAVAILABLE when out of grace', async () => {
    for (const graceful of [true, false]) {
      const runtime = newRuntime({ poolSize: 1, maxPoolSize: 1, stopGraceMs: graceful ? 5000 : 100 });
      const p = pipelineHarness(() => runtime);
      await runtime.start();
      const hash = await p.prepared('module.exports = async (event) => {\n  if (event.params.spin) for (;;) {}\n  return event.params.i;\n};');
      await p.warmUp(hash, 'stopping', { i: 0 });
      const calls = Array.from({ length: 8 }, (_, i) => p.exec(hash, 'stopping', { i, spin: !graceful && i === 0 }, 10_000));
      assert.equal(p.deepest(), 8);
      const started = performance.now();
      await runtime.stop();
      assert.ok(performance.now() - started < 2000);
      const settled = await Promise.allSettled(calls);
      settled.forEach((call, i) => {
        if (graceful) {
          assert.equal(call.status === 'fulfilled' && call.value.status === 'ok' ? call.value.result : JSON.stringify(call), i);
        } else {
          assert.equal(call.status, 'rejected');
          if (call.status === 'rejected') assert.ok(call.reason instanceof ServiceError && call.reason.code === 'RUNTIME_UNAVAILABLE', String(call.reason));
        }
      });
    }
  });

  it('runs every call alone when maxPipelinedPerIsolate is 1', async () => {
    const runtime = newRuntime({ poolSize: 1, maxPoolSize: 2, maxPipelinedPerIsolate: 1 });
    const p = pipelineHarness(() => runtime);
    await runtime.start();
    try {
      const hash = await p.prepared('return params.i;');
      for (let i = 0; i < 10; i++) assert.equal(await p.isPipelined(hash, 'alone', { i }), false);
      assert.equal(runtime.health().details?.maxPipelinedPerIsolate, 1);
    } finally {
      await runtime.stop();
    }
  });
});
