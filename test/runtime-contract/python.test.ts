import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ConfigError, loadConfig } from '../../src/config/config.js';
import { ServiceError } from '../../src/errors/service-error.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import { PythonRuntime, type PythonRuntimeOptions } from '../../src/runtimes/python/python-runtime.js';
import type { InvocationResult } from '../../src/runtimes/runtime.js';
import { runRuntimeContract, runtimeHarness, scriptHashOf } from './contract.js';
import { pythonFixtures } from './python-fixtures.js';
import { makePackagesDir, type TestPackagesDir } from '../helpers/python-packages.js';
import { waitFor } from '../helpers/wait.js';
import { DEFAULTS, PYTHON_DEFAULTS } from '../helpers/defaults.js';


function newRuntime(options: Partial<PythonRuntimeOptions> = {}): PythonRuntime {
  return new PythonRuntime({ ...PYTHON_DEFAULTS, logger: createSilentLogger(), poolSize: 2, maxWorkers: 16, memoryLimitMb: 128, ...options });
}

// With Debian's python3-* packages on sys.path (off by default): the fixtures' package cases import them.
runRuntimeContract('python', () => Promise.resolve(newRuntime({ systemPackages: true })), pythonFixtures);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True once a process is gone or a zombie (dead, waiting for init to reap it); polls up to 3 s. */
async function processGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 150; i++) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    } catch {
      return true;
    }
    await sleep(20);
  }
  return false;
}


describe('python runtime', () => {
  let runtime: PythonRuntime;
  const h = runtimeHarness('python', () => runtime);

  before(async () => {
    runtime = newRuntime({ maxLogEntries: 5, maxLogBytes: 200, maxResultBytes: 1000 });
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
  });

  describe('script forms', () => {
    it('runs top-level code with params, context and event in scope, its `result` being the result', async () => {
      assert.equal(await h.ok('result = len(params["text"].split())', { text: 'one two  three' }), 3);
      assert.deepEqual(await h.ok('result = [params["a"], context["user_id"], event["request_id"], event["params"]["a"]]', { a: 1 }), [1, 'u-1', 'req-1', 1]);
    });

    it('answers null when top-level code assigns no result', async () => {
      assert.equal(await h.ok('x = 1'), null);
    });

    it('runs def handle(params)', async () => {
      assert.equal(await h.ok('def handle(params):\n    return params["text"].upper()', { text: 'hi' }), 'HI');
    });

    it('runs def handler(event)', async () => {
      assert.deepEqual(await h.ok('def handler(event):\n    return {"got": event["params"], "id": event["request_id"]}', { x: 1 }), { got: { x: 1 }, id: 'req-1' });
    });

    it("passes the context as second argument to a two-parameter handler or handle", async () => {
      assert.equal(await h.ok('def handler(event, context):\n    return context["env"]'), 'test');
      assert.equal(await h.ok('def handle(params, context):\n    return context["user_id"]'), 'u-1');
    });

    it('prefers handler over handle, and a function over top-level result', async () => {
      assert.equal(await h.ok('result = "top"\ndef handle(params):\n    return "handle"\ndef handler(event):\n    return "handler"'), 'handler');
      assert.equal(await h.ok('result = "top"\ndef handle(params):\n    return "handle"'), 'handle');
    });

    it('accepts a handler bound by assignment or import', async () => {
      assert.equal(await h.ok('handle = lambda params: params["n"] * 2', { n: 21 }), 42);
      assert.equal(await h.ok('from json import dumps as handle', { n: 1 }), '{"n": 1}');
    });

    it('runs async def handler', async () => {
      assert.equal(await h.ok('import asyncio\nasync def handler(event):\n    await asyncio.sleep(0)\n    return event["params"]["v"]', { v: 7 }), 7);
    });

    it('runs the module once per session for the function forms and keeps its state', async () => {
      const source = 'import random\nseed = random.random()\nseen = []\ndef handle(params):\n    seen.append(params["n"])\n    return [seed, seen]';
      const instanceKey = h.key('module-once');
      const first = (await h.ok(source, { n: 1 }, { instanceKey })) as [number, number[]];
      const second = (await h.ok(source, { n: 2 }, { instanceKey })) as [number, number[]];
      assert.equal(first[0], second[0]);
      assert.deepEqual(second[1], [1, 2]);
    });

    it('keeps the globals of top-level code per session, and resets `result`', async () => {
      const source = 'count = globals().get("count", 0) + 1\nif params.get("assign"):\n    result = count';
      const instanceKey = h.key('body-state');
      assert.equal(await h.ok(source, { assign: true }, { instanceKey }), 1);
      assert.equal(await h.ok(source, { assign: false }, { instanceKey }), null);
      assert.equal(await h.ok(source, { assign: true }, { instanceKey }), 3);
      assert.equal(await h.ok(source, { assign: true }), 1);
    });

    it('names the module `script`, so `if __name__ == "__main__"` blocks do not run', async () => {
      assert.equal(await h.ok('ran = False\nif __name__ == "__main__":\n    ran = True\nresult = [__name__, ran]').then(JSON.stringify), '["script",false]');
    });

    it('has the standard library and nothing else', async () => {
      assert.deepEqual(await h.ok('import json, re, math, datetime, collections\nresult = math.floor(json.loads("[2.7]")[0])'), 2);
      const error = await h.scriptError('import requests');
      assert.equal(error.name, 'ModuleNotFoundError');
      // Debian's python3-yaml is installed here, but PYTHON_SYSTEM_PACKAGES is off: the usual error envelope, with its line.
      const yaml = await h.scriptError('x = 1\nimport yaml');
      assert.deepEqual([yaml.name, yaml.message, yaml.line], ['ModuleNotFoundError', "No module named 'yaml'", 2]);
    });
  });

  describe('errors', () => {
    it('reports a syntax error with its line, column and diagnostics', async () => {
      const { result } = await h.prepare('x = 1\ny = (1,\nz = 3');
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.error.kind, 'SyntaxError');
      assert.equal(typeof result.error.line, 'number');
      const { result: indent } = await h.prepare('def handle(params):\nreturn 1');
      assert.equal(indent.ok, false);
      if (indent.ok) return;
      assert.equal(indent.error.kind, 'IndentationError');
      assert.equal(indent.error.line, 2);
      assert.match(indent.error.diagnostics ?? '', /script\.py", line 2/);
      const { result: nul } = await h.prepare('x = 1\0');
      assert.equal(nul.ok, false);
    });

    it('reports an exception with type, message, line and a traceback of the user frames only', async () => {
      const error = await h.scriptError('def inner(d):\n    return d["missing"]\n\ndef handle(params):\n    return inner(params)\n');
      assert.equal(error.name, 'KeyError');
      assert.equal(error.message, "'missing'");
      assert.equal(error.line, 2);
      assert.match(error.stack ?? '', /^Traceback \(most recent call last\):\n {2}File "script\.py", line 5, in handle\n {4}return inner\(params\)\n {2}File "script\.py", line 2, in inner\n {4}return d\["missing"\]\nKeyError: 'missing'$/);
      assert.doesNotMatch(error.stack ?? '', /worker\.py|sandbox/);
    });

    it('gives the line of the user code for errors raised inside the standard library', async () => {
      const error = await h.scriptError('import json\n\nresult = json.loads("{nope")');
      assert.equal(error.name, 'JSONDecodeError');
      assert.equal(error.line, 3);
      assert.doesNotMatch(error.stack ?? '', /json\/decoder\.py/);
    });

    it('reports an error in the module body of a handle script, and retries it on the next call', async () => {
      const source = 'raise RuntimeError("setup failed")\ndef handle(params):\n    return 1';
      const instanceKey = h.key('setup');
      for (let i = 0; i < 2; i++) {
        const result = await h.run(source, {}, { instanceKey });
        assert.equal(result.status, 'error');
        if (result.status === 'error') assert.equal(result.error.message, 'setup failed');
      }
    });

    it('refuses a handle that is not callable', async () => {
      const error = await h.scriptError('handle = 3');
      assert.equal(error.name, 'TypeError');
      assert.match(error.message, /not a function/);
    });

    it('reports sys.exit as an error, not as a dead worker', async () => {
      const error = await h.scriptError('import sys\nsys.exit(3)');
      assert.equal(error.name, 'SystemExit');
      assert.equal(await h.ok('result = 1'), 1);
    });

    it('bounds the message of a huge exception', async () => {
      const error = await h.scriptError('raise ValueError("x" * 1000000)');
      assert.ok(error.message.length < 5000);
    });

    it('rejects results without a JSON form, with a clear message', async () => {
      const cases: Array<[string, RegExp]> = [
        ['result = {1}', /result is not JSON-serialisable: Object of type set/],
        ['result = b"bytes"', /Object of type bytes/],
        ['result = float("nan")', /result is not JSON-serialisable: Out of range float/],
        ['result = object()', /Object of type object/],
        ['a = []\na.append(a)\nresult = a', /Circular reference/],
        ['result = {(1, 2): 3}', /keys must be/],
      ];
      for (const [source, message] of cases) {
        const error = await h.scriptError(source);
        assert.equal(error.name, 'TypeError', source);
        assert.match(error.message, message, source);
      }
    });

    it('returns JSON values as they are', async () => {
      assert.deepEqual(await h.ok('result = {"s": "é ✓ 𝄞", "n": 1.5, "b": False, "z": None, "t": (1, "2"), "big": 2 ** 40}'), {
        s: 'é ✓ 𝄞',
        n: 1.5,
        b: false,
        z: null,
        t: [1, '2'],
        big: 2 ** 40,
      });
      assert.equal(await h.ok('result = "\\ud800"'), '\ud800');
    });

    it('refuses a result over maxResultBytes with output_limit', async () => {
      const result = await h.run('result = "x" * 2000');
      assert.equal(result.status, 'output_limit');
      if (result.status === 'output_limit') {
        assert.equal(result.limitBytes, 1000);
        assert.match(result.message, /over the limit of 1000 bytes/);
      }
      const multibyte = await h.run('result = "€" * 400');
      assert.equal(multibyte.status, 'output_limit', 'counts UTF-8 bytes, not characters');
      assert.equal(await h.ok('result = "x" * 900'), 'x'.repeat(900));
    });
  });

  describe('logs', () => {
    it('captures print and sys.stderr as lines, in order', async () => {
      const result = await h.run('import sys\nprint("a", 1, {"b": [2]})\nprint("to stderr", file=sys.stderr)\nsys.stdout.write("no newline")\nresult = 1');
      assert.equal(result.status, 'ok');
      assert.deepEqual(result.logs, ["a 1 {'b': [2]}", 'to stderr', 'no newline']);
    });

    it('captures the logging module', async () => {
      const result = await h.run('import logging\nlogging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")\nlogging.info("hello %s", "log")');
      assert.deepEqual(result.logs, ['INFO hello log']);
    });

    it('bounds the number of log entries, with a marker', async () => {
      const result = await h.run('for i in range(1000):\n    print("line", i)');
      assert.equal(result.status, 'ok');
      assert.deepEqual(result.logs.slice(0, 5), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
      assert.match(result.logs[5] ?? '', /logs truncated: 995 more log entries dropped/);
      assert.equal(result.logs.length, 6);
    });

    it('bounds the bytes of logs, with a marker', async () => {
      const result = await h.run('print("é" * 150)\nprint("more")');
      assert.equal(result.status, 'ok');
      const kept = result.logs.slice(0, -1);
      assert.ok(Buffer.byteLength(kept.join(''), 'utf8') <= 200, JSON.stringify(result.logs));
      assert.equal(kept[0]?.length, 100);
      assert.match(result.logs.at(-1) ?? '', /logs truncated/);
    });

    it('keeps huge output bounded and fast', async () => {
      const started = performance.now();
      const result = await h.run('print("x" * 50_000_000)\nfor i in range(100000):\n    print(i)\nresult = "done"', {}, { timeoutMs: 10_000 });
      assert.equal(result.status, 'ok');
      assert.ok(result.logs.length <= 6);
      assert.ok(performance.now() - started < 5000);
    });

    it('never writes script output to the host stdout or stderr', async () => {
      const marker = `marker-${Math.random()}`;
      const seen: string[] = [];
      const originalOut = process.stdout.write.bind(process.stdout);
      const originalErr = process.stderr.write.bind(process.stderr);
      // What is not the marker (the test reporter's own lines) passes through.
      const capture =
        (original: (chunk: string) => boolean) =>
        (chunk: unknown): boolean => {
          const text = String(chunk);
          seen.push(text);
          return text.includes(marker) ? true : original(text);
        };
      process.stdout.write = capture(originalOut);
      process.stderr.write = capture(originalErr);
      try {
        await h.run(`import os, sys\nprint(${JSON.stringify(marker)})\nprint(${JSON.stringify(marker)}, file=sys.__stderr__)\nos.write(1, b${JSON.stringify(marker)})\nos.write(2, b${JSON.stringify(marker)})`);
      } finally {
        process.stdout.write = originalOut;
        process.stderr.write = originalErr;
      }
      assert.ok(!seen.join('').includes(marker));
    });
  });

  describe('limits', () => {
    it('times out, hands over the logs printed so far, and starts the session afresh', async () => {
      const source = 'n = 0\ndef handle(params):\n    global n\n    n += 1\n    if params.get("spin"):\n        print("spinning")\n        while True:\n            pass\n    return n';
      const instanceKey = h.key('after-timeout');
      assert.equal(await h.ok(source, {}, { instanceKey }), 1);
      assert.equal(await h.ok(source, {}, { instanceKey }), 2);
      const started = performance.now();
      const result = await h.run(source, { spin: true }, { instanceKey, timeoutMs: 300 });
      const elapsed = performance.now() - started;
      assert.equal(result.status, 'timeout');
      if (result.status === 'timeout') assert.equal(result.limitMs, 300);
      assert.deepEqual(result.logs, ['spinning']);
      assert.ok(elapsed >= 290 && elapsed < 1500, `took ${elapsed} ms`);
      assert.equal(await h.ok(source, {}, { instanceKey }), 1);
    });

    it('times out code stuck in C (a huge power) and code that ignores the deadline signal', async () => {
      const big = await h.run('result = 10 ** (10 ** 9)', {}, { timeoutMs: 300 });
      assert.equal(big.status, 'timeout');
      const stubborn = await h.run('import signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\nwhile True:\n    pass', {}, { timeoutMs: 300 });
      assert.equal(stubborn.status, 'timeout');
      assert.equal(await h.ok('result = 2'), 2);
    });

    it('does not stall other sessions while one runs long', async () => {
      const loop = h.run('while True:\n    pass', {}, { timeoutMs: 1500 }).then((result) => ({ result, at: performance.now() }));
      await sleep(50);
      const finished: number[] = [];
      for (let i = 0; i < 20; i++) {
        assert.equal(await h.ok('result = params["i"] * 2', { i }, { instanceKey: `other-${i % 3}` }), i * 2);
        finished.push(performance.now());
      }
      const { result, at } = await loop;
      assert.equal(result.status, 'timeout');
      assert.ok(Math.max(...finished) < at, 'the other calls completed while the loop ran');
    });

    it('reports memory_limit with the limit, and replaces the worker, five times in a row', async () => {
      const restartsBefore = Number(runtime.health().details?.restarts);
      for (let i = 0; i < 5; i++) {
        const result = await h.run(`# bomb ${i}\nhoard = []\nwhile True:\n    hoard.append("x" * 10_000_000)`);
        assert.equal(result.status, 'memory_limit', JSON.stringify(result));
        if (result.status === 'memory_limit') {
          assert.equal(result.limitBytes, 128 * 1024 * 1024);
          assert.match(result.message, /memory limit of 128 MiB/);
        }
      }
      assert.equal(Number(runtime.health().details?.restarts) - restartsBefore, 5);
      assert.equal(runtime.health().status, 'up');
      assert.equal(await h.ok('result = 7'), 7);
    });

    it('reports a memory error raised inside a handle function', async () => {
      const result = await h.run('def handle(params):\n    data = bytearray(1 << 30)\n    return len(data)');
      assert.equal(result.status, 'memory_limit');
    });

    it('reports a worker killed with SIGKILL mid-request, and replaces it', async () => {
      const instanceKey = h.key('victim');
      const restartsBefore = Number(runtime.health().details?.restarts);
      const running = h.run('while True:\n    pass', {}, { instanceKey, timeoutMs: 10_000 });
      let pid: number | undefined;
      for (let i = 0; i < 100 && pid === undefined; i++) {
        await sleep(20);
        pid = runtime.workers().find((w) => w.instanceKey === instanceKey && w.busy)?.pid;
      }
      assert.ok(pid !== undefined, 'found the worker');
      const started = performance.now();
      process.kill(pid, 'SIGKILL');
      const result = await running;
      assert.ok(performance.now() - started < 2000);
      assert.equal(result.status, 'error', JSON.stringify(result));
      if (result.status === 'error') {
        assert.equal(result.error.name, 'WorkerCrashed');
        assert.match(result.error.message, /SIGKILL/);
      }
      assert.equal(Number(runtime.health().details?.restarts), restartsBefore + 1);
      assert.ok(!runtime.workers().some((w) => w.pid === pid));
      assert.equal(await h.ok('result = 5', {}, { instanceKey }), 5);
    });

    it('reports a segfault of the interpreter as a crashed worker', async () => {
      const error = await h.scriptError('import ctypes\nctypes.string_at(0)');
      assert.equal(error.name, 'WorkerCrashed');
      assert.match(error.message, /SIGSEGV/);
    });

    it('reports duration and memory use', async () => {
      const result = await h.run('result = 1');
      assert.equal(typeof result.stats.durationMs, 'number');
      assert.ok((result.stats.memoryUsageBytes ?? 0) > 1024 * 1024);
    });
  });

  describe('pool', () => {
    it('reports the sandbox and its pool in health', () => {
      const health = runtime.health();
      assert.equal(health.status, 'up');
      assert.equal(health.details?.sandbox, 'bubblewrap');
      for (const field of ['workers', 'spares', 'sessions', 'busy', 'queued', 'restarts', 'scripts', 'poolSize', 'maxWorkers']) {
        assert.equal(typeof health.details?.[field], 'number', field);
      }
    });

    it('runs 50 concurrent executes across 10 sessions with correct, unmixed results', async () => {
      const counter = await h.prepare('calls = []\ndef handle(params):\n    calls.append(params["i"])\n    return {"session": params["session"], "calls": list(calls)}');
      const sum = await h.prepare('result = {"session": params["session"], "sum": params["a"] + params["b"]}');
      const sessions = Array.from({ length: 10 }, (_, i) => h.key(`fifty-${i}`));
      const calls = Array.from({ length: 50 }, async (_, i) => {
        const session = sessions[i % 10] ?? '';
        const useCounter = i % 10 < 5;
        const params = { i, session, a: i, b: 1000 * (i % 10) };
        const run = await runtime.execute({
          scriptHash: useCounter ? counter.hash : sum.hash,
          instanceKey: session,
          event: { params, context: {}, request_id: session },
          timeoutMs: 10_000,
        });
        assert.equal(run.status, 'ok', JSON.stringify(run));
        return { i, session, useCounter, result: run.status === 'ok' ? (run.result as Record<string, unknown>) : {} };
      });
      const results = await Promise.all(calls);
      for (const { i, session, useCounter, result } of results) {
        assert.equal(result.session, session);
        if (!useCounter) assert.equal(result.sum, i + 1000 * (i % 10));
      }
      // Each counter session saw exactly its own five calls, in the order they were made.
      for (const session of sessions.slice(0, 5)) {
        const mine = results.filter((r) => r.session === session && r.useCounter);
        assert.equal(mine.length, 5);
        const last = mine.map((r) => r.result.calls as number[]).sort((a, b) => b.length - a.length)[0];
        assert.deepEqual(last, mine.map((r) => r.i).sort((a, b) => a - b));
      }
    });

    it('gives each session its own process and ends it on release', async () => {
      const source = 'import os\nn = 0\ndef handle(params):\n    global n\n    n += 1\n    return [os.getpid(), n]';
      const a = h.key('own-a');
      const b = h.key('own-b');
      await h.ok(source, {}, { instanceKey: a });
      await h.ok(source, {}, { instanceKey: b });
      const workerA = runtime.workers().find((w) => w.instanceKey === a);
      const workerB = runtime.workers().find((w) => w.instanceKey === b);
      assert.ok(workerA?.pid !== undefined && workerB?.pid !== undefined && workerA.pid !== workerB.pid);
      runtime.release(a);
      assert.equal(runtime.workers().find((w) => w.instanceKey === a), undefined);
      assert.ok(await processGone(workerA.pid), 'the released worker is gone');
      assert.deepEqual(await h.ok(source, {}, { instanceKey: a }).then((r) => (r as number[])[1]), 1);
      assert.deepEqual(await h.ok(source, {}, { instanceKey: b }).then((r) => (r as number[])[1]), 2);
    });

    it('keeps blank workers ready ahead of demand while there is room', async () => {
      const fresh = newRuntime({ poolSize: 2, maxWorkers: 6 });
      await fresh.start();
      try {
        const f = runtimeHarness('python', () => fresh);
        for (let i = 0; i < 3; i++) await f.ok('result = 1', {}, { instanceKey: f.key('spare') });
        await sleep(500);
        assert.equal(fresh.health().details?.spares, 2);
        assert.equal(fresh.health().details?.workers, 5);
        // At maxWorkers a new session waits for one start; the least recently used session makes room.
        for (let i = 0; i < 4; i++) await f.ok('result = 1', {}, { instanceKey: f.key('more') });
        assert.ok(Number(fresh.health().details?.workers) <= 6);
      } finally {
        await fresh.stop();
      }
    });
  });
});

describe('python runtime with a small pool', () => {
  let runtime: PythonRuntime;
  const h = runtimeHarness('python', () => runtime);

  before(async () => {
    runtime = newRuntime({ poolSize: 1, maxWorkers: 2, maxQueue: 3 });
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
  });

  it('evicts the least recently used idle session when it needs room', async () => {
    const [a, b, c] = [h.key('lru-a'), h.key('lru-b'), h.key('lru-c')];
    assert.equal(await h.ok(pythonFixtures.counter, {}, { instanceKey: a }), 1);
    assert.equal(await h.ok(pythonFixtures.counter, {}, { instanceKey: b }), 1);
    assert.equal(await h.ok(pythonFixtures.counter, {}, { instanceKey: a }), 2);
    assert.equal(await h.ok(pythonFixtures.counter, {}, { instanceKey: c }), 1);
    assert.ok(Number(runtime.health().details?.workers) <= 2);
    // b was the least recently used session when c needed a worker: its state is gone.
    assert.equal(await h.ok(pythonFixtures.counter, {}, { instanceKey: b }), 1);
  });

  it('queues calls of one session in order and refuses beyond maxQueue with 503', async () => {
    const instanceKey = h.key('queue');
    const spin = 'import time\ndef handle(params):\n    end = time.time() + 0.3\n    while time.time() < end:\n        pass\n    return params["i"]';
    await h.prepare(spin);
    const hash = scriptHashOf('python', spin);
    const call = (i: number): Promise<InvocationResult> =>
      runtime.execute({ scriptHash: hash, instanceKey, event: { params: { i }, context: {}, request_id: 'q' }, timeoutMs: 5000 });
    assert.equal((await call(-1)).status, 'ok', 'the session has its worker');
    const first = call(0);
    await sleep(20);
    const queued = [call(1), call(2), call(3)];
    await assert.rejects(call(4), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE' && /saturated/.test(error.message));
    const results = await Promise.all([first, ...queued]);
    assert.deepEqual(
      results.map((r) => (r.status === 'ok' ? r.result : r.status)),
      [0, 1, 2, 3],
    );
  });

  it('refuses a call that waited longer than its time limit', async () => {
    const instanceKey = h.key('wait');
    await h.prepare('while True:\n    pass');
    const loop = h.run('while True:\n    pass', {}, { instanceKey, timeoutMs: 600 });
    await sleep(50);
    await assert.rejects(h.run('result = 1', {}, { instanceKey, timeoutMs: 100 }), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE');
    assert.equal((await loop).status, 'timeout');
    assert.equal(runtime.health().details?.queued, 0);
  });
});

describe('python runtime packages and preload', () => {
  let packages: TestPackagesDir;

  before(() => {
    packages = makePackagesDir({
      files: {
        'lm_broken/__init__.py': 'raise ValueError("broken on purpose")\n',
        'lm_slow/__init__.py': 'import time\ntime.sleep(2)\n',
        'lm_fine/__init__.py': 'LOADED_AT = __import__("time").monotonic()\n',
      },
    });
  });
  after(() => packages?.remove());

  it('reads PYTHON_PACKAGES_DIR, PYTHON_SYSTEM_PACKAGES and PYTHON_PRELOAD, refusing a preload that is no module name', () => {
    assert.deepEqual([DEFAULTS.python.packagesDir, DEFAULTS.python.systemPackages, DEFAULTS.python.preload], [undefined, false, []]);
    const config = loadConfig({ PYTHON_PACKAGES_DIR: packages.dir, PYTHON_SYSTEM_PACKAGES: 'true', PYTHON_PRELOAD: 'numpy, yaml dateutil.parser,_private' });
    assert.deepEqual([config.python.packagesDir, config.python.systemPackages, config.python.preload], [packages.dir, true, ['numpy', 'yaml', 'dateutil.parser', '_private']]);
    for (const bad of ['os;rm', 'numpy.', '.numpy', '1abc', 'a-b', 'numpy..core', '__import__("os")']) {
      assert.throws(() => loadConfig({ PYTHON_PRELOAD: bad }), (error: unknown) => error instanceof ConfigError && error.message.startsWith('PYTHON_PRELOAD: ') && error.message.includes('is not a module name'), bad);
    }
  });

  it('serves from a worker whose preload failed, names the module in health, and gives the script the real error', async () => {
    const runtime = newRuntime({ poolSize: 1, packagesDir: packages.dir, preload: ['lm_fine', 'lm_broken'] });
    const h = runtimeHarness('python', () => runtime);
    await runtime.start();
    try {
      const packagesHealth = (): Record<string, unknown> => (runtime.health().details?.packages ?? {}) as Record<string, unknown>;
      await waitFor('a session worker preloaded', () => packagesHealth().preloadFailed !== undefined);
      assert.equal(runtime.health().status, 'up');
      assert.deepEqual(packagesHealth().preloadFailed, { lm_broken: 'ValueError: broken on purpose' });
      assert.deepEqual(packagesHealth().preload, ['lm_fine', 'lm_broken']);
      assert.equal(packagesHealth().dir, packages.dir);
      // lm_fine was imported before the session's script ran, lm_broken was not (and imports with its error).
      assert.deepEqual(await h.ok('import sys\nresult = ["lm_fine" in sys.modules, "lm_broken" in sys.modules]'), [true, false]);
      const error = await h.scriptError('import lm_broken');
      assert.deepEqual([error.name, error.message], ['ValueError', 'broken on purpose']);
    } finally {
      await runtime.stop();
    }
  });

  it('counts the preload in PYTHON_START_TIMEOUT_MS: workers that cannot preload in time do not start, and health says so', async () => {
    const runtime = newRuntime({ poolSize: 1, packagesDir: packages.dir, preload: ['lm_slow'], startTimeoutMs: 500 });
    const h = runtimeHarness('python', () => runtime);
    // The first worker (a compiler, which preloads nothing) starts, so the runtime does.
    await runtime.start();
    try {
      await waitFor('the start failures reported', () => runtime.health().status === 'degraded', 20_000);
      assert.match(runtime.health().reason ?? '', /workers fail to start: .*start-timeout/);
      await assert.rejects(h.run('result = 1', {}, { timeoutMs: 3000 }), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE');
    } finally {
      await runtime.stop();
    }
  });

  it('refuses to start when PYTHON_PACKAGES_DIR is not a directory, and says why', async () => {
    for (const [packagesDir, why] of [
      [join(packages.parent, 'missing'), /PYTHON_PACKAGES_DIR .*missing does not exist/],
      [join(packages.dir, 'lm_fine', '__init__.py'), /PYTHON_PACKAGES_DIR .*__init__\.py is not a directory/],
    ] as const) {
      const runtime = newRuntime({ packagesDir });
      await runtime.start();
      try {
        assert.equal(runtime.health().status, 'unavailable');
        assert.match(runtime.health().reason ?? '', why);
      } finally {
        await runtime.stop();
      }
    }
  });
});

describe('python runtime lifecycle', () => {
  it('refuses calls before start and after stop', async () => {
    const runtime = newRuntime();
    const isUnavailable = (error: unknown): boolean => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE';
    await assert.rejects(runtime.prepare({ scriptHash: 'x', source: 'result = 1' }), isUnavailable);
    assert.equal(runtime.health().status, 'unavailable');
    await runtime.start();
    assert.equal((await runtime.prepare({ scriptHash: 'x', source: 'result = 1' })).ok, true);
    await runtime.stop();
    assert.equal(runtime.health().status, 'unavailable');
    await assert.rejects(runtime.execute({ scriptHash: 'x', instanceKey: 'k', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 100 }), isUnavailable);
    runtime.release('k');
  });

  it('ends in-flight calls with RUNTIME_UNAVAILABLE when stop runs out of grace, and leaves no process behind', async () => {
    const runtime = newRuntime({ poolSize: 1, stopGraceMs: 100 });
    await runtime.start();
    await runtime.prepare({ scriptHash: 'loop', source: 'while True:\n    pass' });
    const event = { params: {}, context: {}, request_id: 'r' };
    const calls = Promise.allSettled([
      runtime.execute({ scriptHash: 'loop', instanceKey: 'a', event, timeoutMs: 10_000 }),
      runtime.execute({ scriptHash: 'loop', instanceKey: 'b', event, timeoutMs: 10_000 }),
    ]);
    await sleep(200);
    const pids = runtime.workers().map((w) => w.pid ?? 0);
    const started = performance.now();
    await runtime.stop();
    assert.ok(performance.now() - started < 3000);
    for (const call of await calls) {
      assert.equal(call.status, 'rejected');
      if (call.status === 'rejected') assert.ok(call.reason instanceof ServiceError && call.reason.code === 'RUNTIME_UNAVAILABLE', String(call.reason));
    }
    for (const pid of pids) assert.ok(await processGone(pid), `worker ${pid} is gone`);
  });

  it('lets in-flight calls finish within the grace period', async () => {
    const runtime = newRuntime({ poolSize: 1, stopGraceMs: 5000 });
    await runtime.start();
    await runtime.prepare({ scriptHash: 'spin', source: 'import time\ntime.sleep(0.2)\nresult = "done"' });
    const running = runtime.execute({ scriptHash: 'spin', instanceKey: 'a', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 5000 });
    // In flight means on a worker (a call still queued at stop is refused): wait for that, not a fixed time.
    await waitFor('the call to reach a worker', () => runtime.workers().some((w) => w.instanceKey === 'a' && w.busy), 5000);
    await runtime.stop();
    assert.equal((await running).status, 'ok');
  });

  it('refuses to start Python when bubblewrap cannot run, and says why', async () => {
    const runtime = newRuntime({ bwrapPath: '/nonexistent/bwrap' });
    await runtime.start();
    const health = runtime.health();
    assert.equal(health.status, 'unavailable');
    assert.match(health.reason ?? '', /bubblewrap/);
    assert.match(health.reason ?? '', /PYTHON_ALLOW_UNSANDBOXED|not installed/);
    await assert.rejects(
      runtime.prepare({ scriptHash: 'x', source: 'result = 1' }),
      (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE' && /bubblewrap/.test(error.message),
    );
    await runtime.stop();
  });

  it('runs without a sandbox only when explicitly allowed, and reports it as degraded', async () => {
    const runtime = newRuntime({ bwrapPath: '/nonexistent/bwrap', allowUnsandboxed: true, poolSize: 1 });
    await runtime.start();
    try {
      const health = runtime.health();
      assert.equal(health.status, 'degraded');
      assert.match(health.reason ?? '', /WITHOUT a sandbox/);
      assert.equal(health.details?.sandbox, 'none');
      assert.equal((await runtime.prepare({ scriptHash: 'x', source: 'def handle(params):\n    return params["a"] * 2' })).ok, true);
      const run = await runtime.execute({ scriptHash: 'x', instanceKey: 'k', event: { params: { a: 21 }, context: {}, request_id: 'r' }, timeoutMs: 5000 });
      assert.equal(run.status, 'ok');
      if (run.status === 'ok') assert.equal(run.result, 42);
    } finally {
      await runtime.stop();
    }
  });
});
