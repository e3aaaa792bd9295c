/**
 * lmctl end to end: the real CLI (bin/lmctl.mjs, as `npx lmctl` runs it) spawned against the real
 * service listening on a port. Scripts in Node.js, Python and Rust; --json; the exit codes (0 ok,
 * 1 the script failed, 2 usage, service errors, an unreachable service); sessions, executions,
 * functions and health.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { projectPath } from '../../src/config/paths.js';
import type { RunningService } from '../../src/main/service.js';
import { onScratchService } from '../helpers/service.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const BIN = projectPath('bin/lmctl.mjs');

describe('lmctl against the service over HTTP', () => {
  let service: RunningService;
  let baseUrl: string;
  let dir: string;

  /** Runs lmctl with `args` (LAMBDA_URL pointing at the service) and resolves when it exits. */
  function lmctl(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LAMBDA_URL: baseUrl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** A file in the test's directory. */
  async function file(name: string, text: string): Promise<string> {
    await writeFile(join(dir, name), text);
    return name;
  }

  const lines = (text: string): string[] => text.trimEnd().split('\n');

  onScratchService({}, (started) => {
    service = started.service;
  });
  before(async () => {
    baseUrl = await service.app.listen({ host: '127.0.0.1', port: 0 });
    dir = await mkdtemp(join(tmpdir(), 'lm-cli-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs a Node.js file: the result on stdout, its logs and timing on stderr, exit 0', async () => {
    await file('add.js', 'console.log("adding", event.params.a, event.params.b);\nreturn event.params.a + event.params.b;\n');
    await file('params.json', '{"a": 40, "b": 2}');
    const run = await lmctl(['run', 'add.js', '--params', '@params.json']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '42\n');
    assert.match(run.stderr, /│ adding 40 2\n/);
    assert.match(run.stderr, /nodejs-add · session [0-9a-f-]{36} · initialize [\d.]+ ms · execute [\d.]+ ms/);
  });

  it('runs a Python file with --json: one JSON object on stdout', async () => {
    await file('hello.py', 'def handle(params):\n    print("hi")\n    return {"greeting": "hello " + params["name"]}\n');
    const run = await lmctl(['run', 'hello.py', '--params', '{"name":"cli"}', '--json', '--title', 'greeter']);
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout);
    assert.deepEqual(answer.result, { greeting: 'hello cli' });
    assert.equal(answer.language_title, 'python-greeter');
    assert.deepEqual(answer.logs, ['hi']);
    assert.match(answer.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(typeof answer.timing.initialize_ms, 'number');
    assert.equal(run.stderr, '');
  });

  it('runs a ready WebAssembly module: a .wasm file goes base64 to the Rust runtime', async () => {
    // (module (import "wasi_snapshot_preview1" "fd_write" ...) (data (i32.const 16) "42")
    //   (func (export "_start") ...write "42" to stdout...))
    const wasm = 'AGFzbQEAAAABDAJgBH9/f38Bf2AAAAIjARZ3YXNpX3NuYXBzaG90X3ByZXZpZXcxCGZkX3dyaXRlAAADAgEBBQMBAAEHEwIGbWVtb3J5AgAGX3N0YXJ0AAEKHQEbAEEAQRA2AgBBBEECNgIAQQFBAEEBQQgQABoLCwgBAEEQCwI0Mg==';
    await writeFile(join(dir, 'answer.wasm'), Buffer.from(wasm, 'base64'));
    const run = await lmctl(['run', 'answer.wasm', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout);
    assert.equal(answer.result, 42);
    assert.equal(answer.language_title, 'rust-answer');
  });

  it('exits 1 when the script fails, pointing at the line that threw', async () => {
    await file('boom.js', 'const x = 1;\nthrow new Error("boom " + x);\n');
    const run = await lmctl(['run', 'boom.js']);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    const err = lines(run.stderr);
    assert.equal(err[0], 'lmctl: RUNTIME_ERROR: Error: boom 1');
    assert.equal(err[1], '  --> boom.js:2:7');
    assert.ok(err.includes('> 2 | throw new Error("boom " + x);'), run.stderr);
    assert.ok(err.includes(`    | ${' '.repeat(6)}^`), run.stderr);

    const json = await lmctl(['run', 'boom.js', '--json']);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).error.code, 'RUNTIME_ERROR');
  });

  it('exits 1 on a Rust compile error, with the source line and a caret under the column rustc names', async () => {
    await file('bad.rs', 'use serde_json::{Map, Value};\n\npub fn handler(_event: Map<String, Value>) -> Result<Value, String> {\n    let n: i32 = "not a number";\n    Ok(Value::from(n))\n}\n');
    const run = await lmctl(['run', 'bad.rs', '--debug']);
    assert.equal(run.code, 1, run.stderr);
    const err = lines(run.stderr);
    assert.match(err[0] ?? '', /^lmctl: COMPILATION_ERROR: rustc: \[E0308\] mismatched types/);
    assert.equal(err[1], '  --> bad.rs:4:18');
    assert.ok(err.includes('> 4 |     let n: i32 = "not a number";'), run.stderr);
    assert.ok(err.includes(`    | ${' '.repeat(17)}^`), run.stderr);
    assert.match(run.stderr, /expected `i32`, found `&str`/);
  });

  it('exits 2 on bad usage, each with one line on stderr', async () => {
    const help = await lmctl(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: lmctl/);
    assert.match(help.stdout, /run \[options\] <file>/);

    const cases = [
      [['bogus'], /^lmctl: unknown command 'bogus'/],
      [['run'], /^lmctl: missing required argument 'file'$/],
      [['run', 'notes.txt'], /^lmctl: cannot tell the language of notes.txt from its extension/],
      [['run', 'missing.js'], /^lmctl: cannot read missing.js \(ENOENT\)$/],
      [['run', 'add.js', '--params', '{nope'], /^lmctl: --params is not JSON/],
      [['sessions', 'ls', '--status', 'sleeping'], /^lmctl: option '--status <status>' argument 'sleeping' is invalid/],
      [['executions', '3f0c8a52-8c59-4a47-9f0e-3c8f3f6e2b61', '--limit', '0'], /^lmctl: option '--limit <n>' argument '0' is invalid/],
      [['--url', 'ftp://x', 'health'], /^lmctl: --url ftp:\/\/x must be http:\/\/ or https:\/\/$/],
    ] as const;
    // Independent runs: at once.
    const runs = await Promise.all(cases.map(([args]) => lmctl(args)));
    cases.forEach(([args, message], i) => {
      const run = runs[i]!;
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(lines(run.stderr)[0] ?? '', message);
      assert.equal(lines(run.stderr).length, 1, run.stderr);
    });
  });

  it('exits 2 when the service cannot be reached, or answers an error that is not the script\'s', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));

    const unreachable = await lmctl(['health'], { LAMBDA_URL: `http://127.0.0.1:${port}` });
    assert.equal(unreachable.code, 2);
    assert.deepEqual(lines(unreachable.stderr), [`lmctl: cannot reach http://127.0.0.1:${port}/health (ECONNREFUSED): is the service running there? (--url or LAMBDA_URL)`]);

    const missing = await lmctl(['exec', '3f0c8a52-8c59-4a47-9f0e-3c8f3f6e2b61']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^lmctl: NOT_FOUND: /);
  });

  it('inits and execs a session, lists it, shows its executions, extends and removes it', async () => {
    await file('double.js', 'return event.params.n * 2;');
    const init = await lmctl(['init', 'double.js', '--title', 'cli_double']);
    assert.equal(init.code, 0, init.stderr);
    const id = init.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);

    const exec = await lmctl(['exec', id, '--params', '{"n":21}', '--no-cache']);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, '42\n');

    const ls = await lmctl(['sessions', 'ls', '--title', 'nodejs-cli_double', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).sessions.map((s: { request_id: string }) => s.request_id),
      [id],
    );
    const table = await lmctl(['sessions', 'ls', '--title', 'nodejs-cli_double']);
    assert.match(lines(table.stdout)[0] ?? '', /^REQUEST_ID\s+LANGUAGE_TITLE\s+STATUS/);
    assert.match(lines(table.stdout)[1] ?? '', new RegExp(`^${id}\\s+nodejs-cli_double\\s+active\\s+1\\s`));

    await service.flush();
    const executions = await lmctl(['executions', id, '--json']);
    assert.equal(executions.code, 0, executions.stderr);
    const rows = JSON.parse(executions.stdout).executions;
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].params, { n: 21 });

    const extend = await lmctl(['sessions', 'extend', id, '2h']);
    assert.equal(extend.code, 0, extend.stderr);
    assert.match(extend.stdout, new RegExp(`^${id} expires at `));

    assert.equal((await lmctl(['sessions', 'rm', id])).stdout, `deleted ${id}\n`);
    const after = await lmctl(['exec', id]);
    assert.equal(after.code, 2);
    assert.match(after.stderr, /^lmctl: NOT_FOUND: /);
  });

  it('registers, shows and removes a function; reports health', async () => {
    await file('triple.js', 'return event.params.n * 3;');
    const register = await lmctl(['functions', 'register', 'triple.js', '--title', 'cli_triple', '--description', 'triples n', '--tag', 'math']);
    assert.equal(register.code, 0, register.stderr);
    assert.equal(register.stdout, 'registered nodejs-cli_triple (version 1.0.0)\n');

    const get = await lmctl(['functions', 'get', 'nodejs-cli_triple']);
    assert.equal(get.code, 0, get.stderr);
    const detail = JSON.parse(get.stdout);
    assert.equal(detail.description, 'triples n');
    assert.deepEqual(detail.tags, ['math']);
    assert.equal(detail.script_content, 'return event.params.n * 3;');

    const ls = await lmctl(['functions', 'ls', '--type', 'dynamic']);
    assert.match(ls.stdout, /nodejs-cli_triple\s+dynamic\s+1\.0\.0\s+triples n/);

    assert.equal((await lmctl(['functions', 'rm', 'nodejs-cli_triple'])).stdout, 'deleted nodejs-cli_triple (version 1.0.0)\n');
    assert.equal((await lmctl(['functions', 'get', 'nodejs-cli_triple'])).code, 2);

    const health = await lmctl(['health']);
    assert.equal(health.code, 0, health.stderr);
    assert.match(lines(health.stdout)[0] ?? '', /^ok \(version /);
    assert.match(health.stdout, /\n {2}postgres\s+up\n/);
    const json = await lmctl(['health', '--json']);
    assert.equal(JSON.parse(json.stdout).status, 'ok');
  });
});
