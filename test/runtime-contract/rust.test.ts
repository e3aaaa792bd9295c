/**
 * The Rust (WebAssembly) runtime: the shared contract with Rust fixtures, then what is particular to
 * it — compile errors in the user's coordinates, compile options, the module cache in a real
 * PostgreSQL (reused by a second runtime instance without running rustc), ready modules (WAT and
 * base64 .wasm), limits, the shipped rust-data_validator, and a 5,000-call stress on one module.
 *
 * Contract adaptation, honestly: every invocation runs in a fresh WebAssembly instance, so a Rust
 * `static` counter does not survive from one call to the next; the fixture sets
 * `freshStatePerCall` and the state cases assert 1 on every call (and still nothing shared).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';

import { loadConfig } from '../../src/config/config.js';
import { ServiceError } from '../../src/errors/service-error.js';
import { startService, type RunningService } from '../../src/main/service.js';
import { NodejsRuntime } from '../../src/runtimes/nodejs/nodejs-runtime.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import type { RustRuntime } from '../../src/runtimes/rust/rust-runtime.js';
import { MemoryModuleStore } from '../../src/runtimes/kit/module-store.js';
import { runMigrations } from '../../src/storage/postgres/database.js';
import { PgModuleStore } from '../../src/storage/postgres/pg-module-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { newRustRuntime } from '../helpers/rust.js';
import { execute as executeHttp, initialize } from '../helpers/service.js';
import { runRuntimeContract, runtimeHarness, scriptHashOf } from './contract.js';
import { HEAD, rustFixtures } from './rust-fixtures.js';
import { DEFAULTS, NODEJS_DEFAULTS } from '../helpers/defaults.js';
import { waitFor } from '../helpers/wait.js';


runRuntimeContract('rust', () => Promise.resolve(newRustRuntime()), rustFixtures);


function handler(body: string, head = HEAD): string {
  return `${head}pub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n${body}\n}\n`;
}

/** A WASI command that copies stdin to stdout: its result is the event itself. */
const ECHO_WAT = `;; echo: the event in, the same JSON out
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (local $n i32)
    (loop $more
      ;; iovec at 0: buffer at 1024, 60000 bytes
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 60000))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.gt_u (local.get $n) (i32.const 0))
        (then
          (i32.store (i32.const 4) (local.get $n))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (br $more))))))
`;

/** Writes `{"answer":42}` on stdout and "hi from wat" on stderr. */
const ANSWER_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "{\\"answer\\":42}")
  (data (i32.const 200) "hi from wat\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))
`;

async function watToBase64(text: string): Promise<string> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('test.wat', text);
  try {
    return Buffer.from(module.toBinary({}).buffer).toString('base64');
  } finally {
    module.destroy();
  }
}

describe('rust runtime', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let runtime: RustRuntime;
  // Debug builds unless a test says release: a third of the compile time, and what these tests
  // check (results, limits, errors, the cache) does not depend on optimisation.
  const h = runtimeHarness('rust', () => runtime, rustFixtures.compileOptions);

  before(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await runMigrations(pool, createSilentLogger());
    runtime = newRustRuntime({ store: new PgModuleStore(pool), maxLogEntries: 5, maxLogBytes: 200, maxResultBytes: 1000, memoryLimitMb: 32 });
    await runtime.start();
  });
  after(async () => {
    await runtime?.stop();
    await pool?.end();
    await db?.drop();
  });

  describe('scripts', () => {
    it('runs the handler of the issue with structured params', async () => {
      const source =
        'use serde_json::{Map, Value};\npub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n' +
        '    let p = event.get("params").and_then(|p| p.as_object()).ok_or("Missing params")?;\n' +
        '    Ok(serde_json::json!({ "echo": p }))\n}\n';
      assert.deepEqual(await h.ok(source, { z: 1, a: [true, null], s: 'é' }), { echo: { z: 1, a: [true, null], s: 'é' } });
    });

    it('keeps the key order of objects (serde_json with preserve_order)', async () => {
      const result = await h.ok(rustFixtures.echo, { zebra: 1, apple: 2, mango: { y: 1, b: 2 } });
      assert.deepEqual(Object.keys(result as object), ['zebra', 'apple', 'mango']);
    });

    it('sees context and request_id in the event', async () => {
      const source = handler('    Ok(json!({ "ctx": event["context"]["user_id"], "id": event["request_id"] }))');
      assert.deepEqual(await h.ok(source), { ctx: 'u-1', id: 'req-1' });
    });

    it('reports Err(..) as an error named Error, with what the script printed', async () => {
      const result = await h.run(handler('    println!("before");\n    Err(format!("bad input: {}", event.len()))'));
      assert.equal(result.status, 'error');
      if (result.status !== 'error') return;
      assert.equal(result.error.name, 'Error');
      assert.equal(result.error.message, 'bad input: 3');
      assert.deepEqual(result.logs, ['before']);
    });

    it('accepts other Ok and Err types that convert (Ok(42), Err(&str))', async () => {
      const source = `${HEAD}pub fn handler(event: Map<String, Value>) -> Result<i64, &'static str> {\n    if event.is_empty() { Err("empty") } else { Ok(42) }\n}\n`;
      assert.equal(await h.ok(source), 42);
    });

    it('reports a panic with its message and line, and an unwrap on None likewise', async () => {
      const result = await h.run(handler('    let v: Option<u8> = None;\n    let x = v.unwrap();\n    Ok(json!(x))'));
      assert.equal(result.status, 'error');
      if (result.status !== 'error') return;
      assert.equal(result.error.name, 'Panic');
      assert.match(result.error.message, /called `Option::unwrap\(\)` on a `None` value/);
      assert.equal(result.error.line, 4);
      assert.equal(result.error.column, 15);
      assert.match(result.error.stack ?? '', /script\.rs:4:15/);
    });

    it('reports a script that exits before returning', async () => {
      const result = await h.run(handler('    std::process::exit(3)'));
      assert.equal(result.status, 'error');
      if (result.status === 'error') assert.match(result.error.message, /exited \(code 3\) before returning a result/);
    });

    it('reports a stack overflow as an error and keeps serving', async () => {
      const source = `${HEAD}fn deep(n: u64) -> u64 { if n == 0 { 0 } else { 1 + deep(n - 1) + deep(n / 2) } }\npub fn handler(_e: Map<String, Value>) -> Result<Value, String> {\n    Ok(json!(deep(u64::MAX)))\n}\n`;
      const result = await h.run(source, {}, { compileOptions: { optimization_level: 'debug' } });
      assert.equal(result.status, 'error', JSON.stringify(result));
      assert.equal(await h.ok(rustFixtures.echo, 5), 5);
    });

    it('runs the shipped rust-data_validator from its migration', async () => {
      const rows = await db.query<{ content: string }>(
        `SELECT s.content FROM meta.scripts s JOIN meta.functions f ON f.id = s.function_id WHERE f.language_title = 'rust-data_validator'`,
      );
      const source = rows[0]?.content;
      assert.ok(source, 'the migration ships rust-data_validator');
      const params = { data: { age: '42', name: '' }, rules: { age: ['required', 'numeric'], name: ['required'] } };
      assert.deepEqual(await h.ok(source, params), { valid: false, errors: ['name is required'] });
      assert.deepEqual(await h.ok(source, { data: { age: 'x1', name: 'Al' }, rules: { age: ['numeric'], name: ['required'] } }), { valid: false, errors: ['age must be numeric'] });
      assert.deepEqual(await h.ok(source, { data: { age: 3 }, rules: { age: ['required', 'numeric'] } }), { valid: true, errors: [] });
      const missing = await h.run(source, { data: {} });
      assert.equal(missing.status, 'error');
      if (missing.status === 'error') assert.match(missing.error.message, /^Missing rules/);
      // The earlier implementation's form (migration 8): a list of rules for every field of data.
      assert.deepEqual(await h.ok(source, { data: { age: 'x', name: '' }, rules: ['required', 'numeric'] }), { valid: false, errors: ['age must be numeric', 'name is required'] });
    });
  });

  describe('compile errors and options', () => {
    it('reports a type error with the first error in the user coordinates and cleaned diagnostics', async () => {
      const error = await h.compileFailure(handler('    let n: u32 = "text";\n    Ok(json!(n))'));
      assert.equal(error.kind, 'rustc');
      assert.match(error.message, /E0308.*mismatched types/);
      assert.equal(error.line, 3);
      assert.equal(error.column, 18);
      assert.match(error.diagnostics ?? '', /--> script\.rs:3:18/);
      assert.doesNotMatch(error.diagnostics ?? '', /\/work\/|\/tmp\/|lambda-rustc/);
    });

    it('points an unclosed brace at the brace, not at the end of the file', async () => {
      const error = await h.compileFailure(`${HEAD}pub fn handler(_e: Map<String, Value>) -> Result<Value, String> {\n    if true {\n        return Ok(json!(1));\n    Ok(json!(2))\n}\n`);
      assert.equal(error.kind, 'rustc');
      assert.match(error.message, /unclosed delimiter/);
      assert.ok(error.line === 2 || error.line === 3, JSON.stringify(error));
    });

    it('names the handler contract when the script defines none', async () => {
      const error = await h.compileFailure(`${HEAD}pub fn handle(_e: Map<String, Value>) -> Result<Value, String> { Ok(Value::Null) }\n`);
      assert.equal(error.kind, 'rustc');
      assert.match(error.message, /pub fn handler\(event: serde_json::Map<String, serde_json::Value>\)/);
      const signature = await h.compileFailure(`${HEAD}pub fn handler(_e: &Map<String, Value>) -> Result<Value, String> { Ok(Value::Null) }\n`);
      assert.match(signature.message, /the script must define `pub fn handler/);
    });

    it('refuses unknown compile options and unknown optimization levels', async () => {
      const unknown = await h.compileFailure(rustFixtures.echo, { optimization_level: 'release', features: ['x'] });
      assert.equal(unknown.kind, 'InvalidCompileOptions');
      assert.match(unknown.message, /unknown compile option "features"/);
      const level = await h.compileFailure(rustFixtures.echo, { optimization_level: 'turbo' });
      assert.equal(level.kind, 'InvalidCompileOptions');
      assert.match(level.message, /"debug" or "release"/);
    });

    it('compiles debug with overflow checks and release without', async () => {
      const source = handler('    let x = event["params"]["x"].as_u64().unwrap_or(0) as u8;\n    let y = x.wrapping_add(0) + 200;\n    Ok(json!(y))');
      const debug = await h.run(source, { x: 100 }, { compileOptions: { optimization_level: 'debug' } });
      assert.equal(debug.status, 'error', JSON.stringify(debug));
      if (debug.status === 'error') assert.match(debug.error.message, /attempt to add with overflow/);
      assert.equal(await h.ok(source, { x: 100 }, { compileOptions: { optimization_level: 'release' } }), 44);
    });

    it('names the crates there are when a script uses one outside the set', async () => {
      for (const source of [
        'use reqwest::blocking::get;\npub fn handler(_p: serde_json::Value) -> Result<u8, String> { Ok(1) }\n',
        'pub fn handler(_p: serde_json::Value) -> Result<String, String> { Ok(tokio::VERSION.to_string()) }\n',
        'extern crate anyhow;\npub fn handler(_p: serde_json::Value) -> Result<u8, String> { Ok(1) }\n',
      ]) {
        const error = await h.compileFailure(source, { optimization_level: 'debug' });
        assert.equal(error.kind, 'rustc');
        assert.match(error.message, /is not a crate scripts can use; the crates are: serde, serde_json, regex, chrono, base64, sha2, hex, rand, itertools, uuid/, source);
      }
      // A crate of the set, misspelt module paths aside, is not blamed on the set.
      const typo = await h.compileFailure('use serde_json::Nope;\npub fn handler(_p: serde_json::Value) -> Result<u8, String> { Ok(1) }\n', { optimization_level: 'debug' });
      assert.doesNotMatch(typo.message, /not a crate scripts can use/);
    });

    it('answers params that do not fit a serde handler with InvalidParams and serde\'s message, not a panic', async () => {
      const source = rustFixtures.cases?.[0]?.source ?? '';
      const compileOptions = { optimization_level: 'debug' };
      const missing = await h.run(source, { times: 2 }, { compileOptions });
      assert.equal(missing.status, 'error', JSON.stringify(missing));
      if (missing.status === 'error') {
        assert.equal(missing.error.name, 'InvalidParams');
        assert.match(missing.error.message, /params do not match the handler's argument: missing field `name`/);
      }
      const wrongType = await h.run(source, { name: 'x', times: 'many' }, { compileOptions });
      assert.equal(wrongType.status, 'error');
      if (wrongType.status === 'error') assert.match(wrongType.error.message, /invalid type: string "many", expected usize/);
      assert.deepEqual(await h.ok(source, { name: 'x' }, { compileOptions }), { greetingText: 'hi x', length: 4 });
    });

    it('reports a panic of a whole program with its message and line', async () => {
      const program = 'fn main() {\n    let v: Vec<u8> = Vec::new();\n    if v.is_empty() {\n        panic!("nothing to do");\n    }\n}\n';
      const run = await h.run(program, {}, { compileOptions: { optimization_level: 'debug' } });
      assert.equal(run.status, 'error', JSON.stringify(run));
      if (run.status === 'error') {
        assert.equal(run.error.name, 'Panic');
        assert.equal(run.error.message, 'nothing to do');
        assert.equal(run.error.line, 4);
      }
      const silent = await h.run('fn main() {}\n', {}, { compileOptions: { optimization_level: 'debug' } });
      assert.equal(silent.status, 'error');
      if (silent.status === 'error') assert.match(silent.error.message, /wrote no result on stdout/);
    });

    it("refuses include_str!(\"/etc/passwd\"): the compiler's sandbox has no /etc", async () => {
      const error = await h.compileFailure(handler('    Ok(json!(include_str!("/etc/passwd")))'));
      assert.equal(error.kind, 'rustc');
      assert.equal(error.line, 3);
      assert.match(error.message, /couldn't read/);
      assert.doesNotMatch(error.diagnostics ?? '', /root:x:0:0/);
    });
  });

  describe('module cache', () => {
    it('compiles a script once, keeps it in PostgreSQL, and a second runtime reuses it without rustc', async () => {
      const source = handler(`    Ok(json!({ "cache": "${Math.random()}" }))`);
      const before = runtime.counters.compiles;
      const first = await h.prepare(source);
      assert.equal(first.result.ok, true, JSON.stringify(first.result));
      assert.equal(runtime.counters.compiles, before + 1);
      const again = await h.prepare(source);
      assert.equal(again.result.ok, true);
      assert.equal(runtime.counters.compiles, before + 1, 'a second prepare does not compile again');

      const rows = await db.query<{ size_bytes: number; toolchain: string; n: string }>('SELECT size_bytes, toolchain, length(module) AS n FROM meta.compiled_modules');
      assert.ok(rows.length >= 1);
      assert.ok(rows.every((row) => row.size_bytes === Number(row.n) && row.toolchain.startsWith('rustc-')));

      // Another replica, or this one after a restart: same store, fresh memory.
      const other = newRustRuntime({ store: new PgModuleStore(pool) });
      await other.start();
      try {
        const result = await other.prepare({ scriptHash: first.hash, source, compileOptions: rustFixtures.compileOptions });
        assert.equal(result.ok, true);
        assert.equal(other.counters.compiles, 0, 'no rustc run on the second runtime');
        assert.equal(other.counters.storeHits, 1);
        const run = await other.execute({ scriptHash: first.hash, instanceKey: 'r2', event: { params: {}, context: {}, request_id: 'x' }, timeoutMs: 5000 });
        assert.equal(run.status, 'ok', JSON.stringify(run));
      } finally {
        await other.stop();
      }
    });

    it('compiles concurrent prepares of the same new script once', async () => {
      const source = handler(`    Ok(json!("${Math.random()}"))`);
      const before = runtime.counters.compiles;
      const results = await Promise.all([h.prepare(source), h.prepare(source), h.prepare(source), h.prepare(source)]);
      assert.ok(results.every((r) => r.result.ok));
      assert.equal(runtime.counters.compiles, before + 1);
    });

    it('returns the module as the artifact and loads a given artifact without compiling', async () => {
      const source = handler(`    Ok(json!("artifact ${Math.random()}"))`);
      const { hash, result } = await h.prepare(source);
      assert.ok(result.ok && result.artifact && result.artifact.byteLength > 1000);
      const artifact = result.ok ? result.artifact : undefined;
      const other = newRustRuntime({ store: new MemoryModuleStore(DEFAULTS.rust.maxModuleBytes) });
      await other.start();
      try {
        const loaded = await other.prepare({ scriptHash: hash, source, ...(artifact ? { artifact } : {}) });
        assert.equal(loaded.ok, true);
        assert.equal(other.counters.compiles, 0);
        assert.equal(other.counters.artifactLoads, 1);
        const run = await other.execute({ scriptHash: hash, instanceKey: 'a', event: { params: {}, context: {}, request_id: 'x' }, timeoutMs: 5000 });
        assert.equal(run.status, 'ok');
        // A broken artifact is not trusted: the source is compiled instead.
        const broken = await other.prepare({ scriptHash: `${hash}-b`, source: handler('    Ok(json!(1))'), artifact: new Uint8Array([0, 97, 115, 109, 9, 9]) });
        assert.equal(broken.ok, true);
        assert.equal(other.counters.compiles, 1);
      } finally {
        await other.stop();
      }
    });
  });

  describe('ready WebAssembly modules', () => {
    it('runs a WAT module that reads the event on stdin and writes the result on stdout', async () => {
      const params = { a: 1, text: 'ünïcödé' };
      const result = await h.ok(ECHO_WAT, params);
      assert.deepEqual(result, { params, context: { env: 'test', user_id: 'u-1' }, request_id: 'req-1' });
    });

    it('runs a base64 .wasm module; its stderr is the logs', async () => {
      const base64 = await watToBase64(ANSWER_WAT);
      const wrapped = base64.replace(/(.{60})/g, '$1\n');
      const result = await h.run(wrapped);
      assert.equal(result.status, 'ok', JSON.stringify(result));
      if (result.status === 'ok') assert.deepEqual(result.result, { answer: 42 });
      assert.deepEqual(result.logs, ['hi from wat']);
    });

    it('reports WAT syntax errors with their line', async () => {
      const error = await h.compileFailure('(module\n  (memory (export "memory") 1)\n  (func (export "_start") (i32.bogus))\n)\n');
      assert.equal(error.kind, 'WatSyntaxError');
      assert.equal(error.line, 3);
    });

    it('refuses modules it cannot run or bound', async () => {
      const imports = await h.compileFailure('(module (import "env" "secret" (func)) (memory (export "memory") 1) (func (export "_start")))');
      assert.match(imports.message, /imports function "env"."secret"/);
      const noStart = await h.compileFailure('(module (memory (export "memory") 1))');
      assert.match(noStart.message, /_start/);
      const huge = await h.compileFailure('(module (memory (export "memory") 60000) (func (export "_start")))');
      assert.match(huge.message, /initial memory .* above the memory limit/);
      const start = await h.compileFailure('(module (memory (export "memory") 1) (func $s) (start $s) (func (export "_start")))');
      assert.match(start.message, /start section/);
      const notJson = await h.run('(module (memory (export "memory") 1) (func (export "_start")))');
      assert.equal(notJson.status, 'error');
      if (notJson.status === 'error') assert.match(notJson.error.message, /no result on stdout/);
    });

    it('caps memory.grow at the memory limit', async () => {
      // Grows one page at a time until refused, then prints how many pages it has.
      const wat = `(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1 65536)
        (func (export "_start") (local $pages i32)
          (block $done (loop $grow
            (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
            (br $grow)))
          (local.set $pages (memory.size))
          ;; digits of $pages (at most 5) written right to left ending at 120
          (i32.store (i32.const 0) (i32.const 120))
          (i32.store (i32.const 4) (i32.const 0))
          (block $out (loop $digit
            (i32.store (i32.const 0) (i32.sub (i32.load (i32.const 0)) (i32.const 1)))
            (i32.store8 (i32.load (i32.const 0)) (i32.add (i32.const 48) (i32.rem_u (local.get $pages) (i32.const 10))))
            (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
            (local.set $pages (i32.div_u (local.get $pages) (i32.const 10)))
            (br_if $digit (i32.ne (local.get $pages) (i32.const 0)))))
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;
      assert.equal(await h.ok(wat), 512, '32 MiB = 512 pages of 64 KiB');
    });
  });

  describe('limits', () => {
    it('ends a Rust infinite loop at its time limit and keeps serving', async () => {
      const { hash, result: prepared } = await h.prepare(handler('    println!("spinning");\n    let mut n: u64 = 0;\n    loop { n = n.wrapping_mul(31).wrapping_add(event.len() as u64); if n == 7 { println!("{}", n); } }'));
      assert.equal(prepared.ok, true);
      const started = performance.now();
      const result = await h.executeHash(hash, {}, 300);
      const elapsed = performance.now() - started;
      assert.equal(result.status, 'timeout');
      if (result.status === 'timeout') assert.equal(result.limitMs, 300);
      assert.ok(elapsed >= 290 && elapsed < 1500, `took ${elapsed} ms`);
      assert.deepEqual(result.logs, ['spinning'], 'what it printed before the timeout is kept');
      assert.equal(await h.ok(rustFixtures.echo, 'still here'), 'still here');
    });

    it('ends a memory grower with memory_limit at the configured limit', async () => {
      const result = await h.run(rustFixtures.memoryBomb);
      assert.equal(result.status, 'memory_limit', JSON.stringify(result));
      if (result.status !== 'memory_limit') return;
      assert.equal(result.limitBytes, 32 * 1024 * 1024);
      assert.match(result.message, /memory limit of 32 MiB: memory allocation of \d+ bytes failed/);
      const one = await h.run(handler('    let v: Vec<u8> = Vec::with_capacity(64 << 20);\n    Ok(json!(v.capacity()))'));
      assert.equal(one.status, 'memory_limit', JSON.stringify(one));
    });

    it('bounds the logs, with a marker', async () => {
      const result = await h.run(handler('    for i in 0..1000 { println!("line {}", i); }\n    Ok(json!(1))'));
      assert.equal(result.status, 'ok');
      assert.deepEqual(result.logs.slice(0, 5), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
      assert.equal(result.logs.length, 6);
      assert.match(result.logs[5] ?? '', /logs truncated: 995 more log entries dropped/);
      const bytes = await h.run(handler('    println!("{}", "é".repeat(150));\n    println!("more");\n    Ok(json!(1))'));
      const kept = bytes.logs.slice(0, -1);
      assert.ok(Buffer.byteLength(kept.join(''), 'utf8') <= 200, JSON.stringify(bytes.logs));
      assert.equal(kept[0]?.length, 100);
      assert.match(bytes.logs.at(-1) ?? '', /logs truncated/);
    });

    it('refuses a result over maxResultBytes with output_limit', async () => {
      const result = await h.run(handler('    Ok(json!("x".repeat(2000)))'));
      assert.equal(result.status, 'output_limit');
      if (result.status === 'output_limit') {
        assert.equal(result.limitBytes, 1000);
        assert.match(result.message, /over the limit of 1000 bytes/);
      }
      const wat = await h.run(`(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 0))
          (i32.store (i32.const 4) (i32.const 4000))
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);
      assert.equal(wat.status, 'output_limit');
      assert.equal(await h.ok(handler('    Ok(json!("x".repeat(900)))')), 'x'.repeat(900));
    });

    it('does not stall other calls while one runs long', async () => {
      // Compiled first: the calls below measure running, not a compile (seconds on a loaded machine).
      assert.equal(await h.ok(rustFixtures.echo, -1), -1);
      // A limit far beyond what 20 short calls take, even on a loaded machine: the state checked is
      // "the loop still runs while they are answered", not how fast they are.
      let loopEnded = false;
      const loop = h.run(rustFixtures.infiniteLoop, {}, { timeoutMs: 5000 }).finally(() => (loopEnded = true));
      await waitFor('the loop to be running', () => Number(runtime.health().details?.busy) >= 1);
      for (let i = 0; i < 20; i++) {
        assert.equal(await h.ok(rustFixtures.echo, i), i);
        assert.equal(loopEnded, false, `call ${i} was answered after the loop ended: it waited for it`);
      }
      assert.equal((await loop).status, 'timeout');
    });

    it('reports duration and memory use', async () => {
      const result = await h.run(rustFixtures.echo);
      assert.equal(typeof result.stats.durationMs, 'number');
      assert.ok((result.stats.memoryUsageBytes ?? 0) >= 65536);
    });
  });

  describe('stress', () => {
    it('runs 5,000 invocations of one cached module without a crash', { timeout: 300_000 }, async () => {
      const { hash, result } = await h.prepare(rustFixtures.sum, rustFixtures.compileOptions);
      assert.equal(result.ok, true);
      const restarts = runtime.health().details?.restarts;
      const started = performance.now();
      let done = 0;
      const worker = async (lane: number): Promise<void> => {
        while (done < 5000) {
          const i = done++;
          const run = await runtime.execute({ scriptHash: hash, instanceKey: `stress-${lane}`, event: { params: { a: i, b: lane }, context: {}, request_id: 'stress' }, timeoutMs: 10_000 });
          if (run.status !== 'ok' || run.result !== i + lane) assert.fail(`call ${i}: ${JSON.stringify(run)}`);
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      const ms = performance.now() - started;
      console.log(`# 5,000 executes, 4 in flight, 2 workers: ${Math.round(ms)} ms (${Math.round(5000 / (ms / 1000))}/s)`);
      assert.equal(runtime.health().details?.restarts, restarts, 'no worker died');
      assert.equal(runtime.health().status, 'up');
    });
  });
});

describe('rust runtime through the HTTP API', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const config = loadConfig({ DATABASE_URL: db.url, LOG_FLUSH_INTERVAL_MS: '20' }, 'test');
    const rust = newRustRuntime({ store: new PgModuleStore(pool) });
    service = await startService(config, createSilentLogger(), { runtimes: [new NodejsRuntime({ ...NODEJS_DEFAULTS, logger: createSilentLogger(), poolSize: 1, maxPoolSize: 2 }), rust] });
  });
  after(async () => {
    await service?.stop();
    await pool?.end();
    await db?.drop();
  });

  it('initializes the shipped rust-data_validator without a script and executes its example', async () => {
    const init = await initialize(service, 'rust-data_validator', {});
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const params = { data: { age: '42', name: '' }, rules: { age: ['required', 'numeric'], name: ['required'] } };
    const run = await executeHttp(service, init.body.request_id as string, params);
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.deepEqual(run.body.result, { valid: false, errors: ['name is required'] });
    const rows = await db.query<{ n: number }>('SELECT length(compiled_artifact) AS n FROM meta.sessions WHERE request_id = $1', [init.body.request_id]);
    assert.ok((rows[0]?.n ?? 0) > 1000, 'the session keeps the compiled module');
  });

  it('runs the issue example many times, with logs', async () => {
    const script =
      'use serde_json::{Map, Value};\npub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n' +
      '    let p = event.get("params").and_then(|p| p.as_object()).ok_or("Missing params")?;\n    println!("got {} params", p.len());\n' +
      '    Ok(serde_json::json!({ "echo": p }))\n}\n';
    const init = await initialize(service, 'rust-echo', { script_content: script, compile_options: { optimization_level: 'debug' } });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    for (let i = 0; i < 20; i++) {
      const run = await executeHttp(service, init.body.request_id as string, { i });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.deepEqual(run.body.result, { echo: { i } });
      assert.deepEqual(run.body.logs, ['got 1 params']);
    }
  });

  it('answers 400 COMPILATION_ERROR with the line, and for unknown compile options', async () => {
    const bad = await initialize(service, 'rust-bad', { script_content: rustFixtures.syntaxError.source });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'COMPILATION_ERROR');
    assert.equal(bad.body.error.details.line, 3);
    assert.match(String(bad.body.error.details.diagnostics), /script\.rs:3/);
    const options = await initialize(service, 'rust-opts', { script_content: rustFixtures.echo, compile_options: { lto: true } });
    assert.equal(options.status, 400);
    assert.equal(options.body.error.details.kind, 'InvalidCompileOptions');
  });

  it('answers 400 INVALID_PARAMS with serde\'s message when params do not fit a serde handler', async () => {
    const init = await initialize(service, 'rust-typed', { script_content: rustFixtures.cases?.[0]?.source, compile_options: { optimization_level: 'debug' } });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const ok = await executeHttp(service, init.body.request_id as string, { name: 'bo', times: 1 });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.result, { greetingText: 'hi bo', length: 5 });
    const bad = await executeHttp(service, init.body.request_id as string, { name: 7 });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.error.code, 'INVALID_PARAMS');
    assert.match(bad.body.error.message, /invalid type: integer `7`, expected a string/);
    assert.equal(bad.body.error.details.name, 'InvalidParams');
  });

  it('answers 400 COMPILATION_ERROR naming the crates for a crate outside the set', async () => {
    const init = await initialize(service, 'rust-tokio', { script_content: 'use tokio::runtime::Runtime;\npub fn handler(_p: serde_json::Value) -> Result<u8, String> { Ok(1) }\n', compile_options: { optimization_level: 'debug' } });
    assert.equal(init.status, 400, JSON.stringify(init.body));
    assert.equal(init.body.error.code, 'COMPILATION_ERROR');
    assert.match(init.body.error.message, /`tokio` is not a crate scripts can use; the crates are: serde, serde_json, regex/);
  });

  it('answers 500 RUNTIME_ERROR for a panic and 504 TIMEOUT for a loop', async () => {
    const panics = await initialize(service, 'rust-panics', { script_content: rustFixtures.throws.source });
    const panic = await executeHttp(service, panics.body.request_id as string, {});
    assert.equal(panic.status, 500);
    assert.equal(panic.body.error.details.line, 3);
    const loops = await initialize(service, 'rust-loops', { script_content: rustFixtures.infiniteLoop, context: { timeout_ms: 200 } });
    const loop = await executeHttp(service, loops.body.request_id as string, {});
    assert.equal(loop.status, 504);
  });
});

describe('rust runtime with small bounds', () => {
  it('stops a compile at WASM_COMPILE_TIMEOUT_SECONDS (compileTimeoutMs) and keeps serving', { timeout: 120_000 }, async () => {
    const runtime = newRustRuntime({ compileTimeoutMs: 2000 });
    await runtime.start();
    try {
      // Every expansion doubles: 2^40 expansions never finish.
      const bomb = `macro_rules! blow { () => {}; ($x:tt $($rest:tt)*) => { blow!($($rest)*); blow!($($rest)*); }; }\nblow!(${'a '.repeat(40)});\n${rustFixtures.echo}`;
      const started = performance.now();
      const result = await runtime.prepare({ scriptHash: scriptHashOf('rust', bomb), source: bomb });
      const elapsed = performance.now() - started;
      assert.equal(result.ok, false);
      if (!result.ok) assert.ok(['CompileTimeout', 'CompileLimit'].includes(result.error.kind), JSON.stringify(result.error));
      assert.ok(elapsed < 8000, `took ${elapsed} ms`);
      // Still serving (a ready module: no compile, whose time limit here is deliberately tight).
      assert.equal(runtime.health().status, 'up');
      const hash = scriptHashOf('rust', ECHO_WAT);
      assert.equal((await runtime.prepare({ scriptHash: hash, source: ECHO_WAT })).ok, true);
      const run = await runtime.execute({ scriptHash: hash, instanceKey: 'k', event: { params: 1, context: {}, request_id: 'r' }, timeoutMs: 5000 });
      assert.equal(run.status, 'ok', JSON.stringify(run));
    } finally {
      await runtime.stop();
    }
  });

  it('keeps at most maxModules in memory; an evicted script answers not_prepared and comes back from the store', { timeout: 120_000 }, async () => {
    const store = new MemoryModuleStore(DEFAULTS.rust.maxModuleBytes);
    const runtime = newRustRuntime({ store, maxModules: 2 });
    const h = runtimeHarness('rust', () => runtime);
    await runtime.start();
    try {
      const sources = [1, 2, 3].map((n) => handler(`    Ok(json!(${n}))`));
      const hashes: string[] = [];
      for (const source of sources) {
        const { hash, result } = await h.prepare(source, { optimization_level: 'debug' });
        assert.equal(result.ok, true);
        hashes.push(hash);
      }
      assert.equal(runtime.health().details?.modules, 2);
      const evicted = await h.executeHash(hashes[0] ?? '');
      assert.equal(evicted.status, 'not_prepared');
      assert.equal((await h.executeHash(hashes[2] ?? '')).status, 'ok');
      const compiles = runtime.counters.compiles;
      assert.equal((await h.prepare(sources[0] ?? '', { optimization_level: 'debug' })).result.ok, true);
      assert.equal(runtime.counters.compiles, compiles, 'reloaded from the store, not compiled');
      const back = await h.executeHash(hashes[0] ?? '');
      assert.equal(back.status, 'ok');
      if (back.status === 'ok') assert.equal(back.result, 1);
    } finally {
      await runtime.stop();
    }
  });
});

describe('rust runtime without its toolchain', () => {
  it('reports unavailable naming the missing piece, and refuses prepare and execute with RUNTIME_UNAVAILABLE', async () => {
    const runtime = newRustRuntime({ toolchainPaths: { rustc: '/nonexistent/rustc' } });
    await runtime.start();
    try {
      const health = runtime.health();
      assert.equal(health.status, 'unavailable');
      assert.match(health.reason ?? '', /rustc not found at \/nonexistent\/rustc/);
      const isUnavailable = (error: unknown): boolean => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE' && /rustc/.test(error.message);
      await assert.rejects(runtime.prepare({ scriptHash: 'x', source: rustFixtures.echo }), isUnavailable);
      await assert.rejects(runtime.execute({ scriptHash: 'x', instanceKey: 'k', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 100 }), isUnavailable);
    } finally {
      await runtime.stop();
    }
  });
});

describe('rust runtime lifecycle', () => {
  it('refuses calls before start and after stop', async () => {
    const runtime = newRustRuntime();
    await assert.rejects(runtime.prepare({ scriptHash: 'x', source: rustFixtures.echo }), (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE');
    assert.equal(runtime.health().status, 'unavailable');
    await runtime.start();
    assert.equal(runtime.health().status, 'up');
    await runtime.stop();
    assert.equal(runtime.health().status, 'unavailable');
    await assert.rejects(
      runtime.execute({ scriptHash: 'x', instanceKey: 'k', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 100 }),
      (error: unknown) => error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE',
    );
  });

  it('lets a running call finish within the grace period', async () => {
    const runtime = newRustRuntime({ poolSize: 1, stopGraceMs: 5000 });
    await runtime.start();
    const source = handler('    let end = std::time::Instant::now() + std::time::Duration::from_millis(200);\n    while std::time::Instant::now() < end {}\n    Ok(json!("done"))');
    const hash = scriptHashOf('rust', source);
    assert.equal((await runtime.prepare({ scriptHash: hash, source })).ok, true);
    const running = runtime.execute({ scriptHash: hash, instanceKey: 'a', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 5000 });
    await waitFor('the call to be running', () => Number(runtime.health().details?.busy) === 1);
    await runtime.stop();
    const result = await running;
    assert.equal(result.status, 'ok', JSON.stringify(result));
  });

  it('ends a call still running after the grace period with RUNTIME_UNAVAILABLE', async () => {
    const runtime = newRustRuntime({ poolSize: 1, stopGraceMs: 300 });
    await runtime.start();
    const hash = scriptHashOf('rust', rustFixtures.infiniteLoop);
    assert.equal((await runtime.prepare({ scriptHash: hash, source: rustFixtures.infiniteLoop })).ok, true);
    const running = runtime.execute({ scriptHash: hash, instanceKey: 'a', event: { params: {}, context: {}, request_id: 'r' }, timeoutMs: 10_000 });
    const settled = running.then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitFor('the call to be running', () => Number(runtime.health().details?.busy) === 1);
    const started = performance.now();
    await runtime.stop();
    assert.ok(performance.now() - started < 2000);
    const error = await settled;
    assert.ok(error instanceof ServiceError && error.code === 'RUNTIME_UNAVAILABLE', String(error));
  });
});
