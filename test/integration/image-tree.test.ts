/**
 * The controller image (deploy/Dockerfile) as far as it can run here: no Docker engine, so its
 * file tree is assembled from the Dockerfile's final stage (every COPY, the build stage's dist/
 * compiled by tsc with the checkout's built console, its node_modules those of this checkout) and
 * started as the image's CMD would.
 * Runtime processes and worker threads load files by path; a file the image lacks shows here, and
 * so does what a first start on an empty volume needs (but the Rust crate set: the suite's prebuilt one).
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PROJECT_ROOT } from '../../src/config/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { spawnUntil } from '../helpers/process.js';
import { RUST_TEST_CACHE_DIR } from '../helpers/rust.js';
import { waitFor } from '../helpers/wait.js';

/** The image's tree from the final stage of `dockerfile` under `root`. */
function assemble(dockerfile: string, root: string): void {
  const lines = readFileSync(join(PROJECT_ROOT, dockerfile), 'utf8').split('\n');
  const finalStage = lines.slice(lines.map((line) => /^FROM\s/.test(line)).lastIndexOf(true));
  for (const line of finalStage) {
    const copy = /^COPY\s+(?:--from=(\S+)\s+)?(\S+)\s+(\S+)\s*$/.exec(line.trim());
    if (!copy) continue;
    const [, stage, source, target] = copy as unknown as [string, string | undefined, string, string];
    const to = join(root, target);
    mkdirSync(dirname(to), { recursive: true });
    if (stage) {
      // The build stage's output: the same node_modules; dist/ compiled now.
      if (source.endsWith('node_modules')) symlinkSync(join(PROJECT_ROOT, 'node_modules'), to, 'dir');
      else if (source.endsWith('dist')) {
        execFileSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(PROJECT_ROOT, 'tsconfig.build.json'), '--outDir', to]);
        // `npm run build`'s second half, the web console: the checkout's (built before the tests by setup).
        cpSync(join(PROJECT_ROOT, 'dist', 'web'), join(to, 'web'), { recursive: true });
      }
      else assert.fail(`unknown build output ${source}`);
    } else {
      for (const part of source === './' ? [] : [source]) cpSync(join(PROJECT_ROOT, part), target.endsWith('/') ? join(to, part) : to, { recursive: true });
    }
  }
}

/** Starts `args` (an image's CMD) in `cwd`, noted in `started`, and resolves with what it printed after "listening on". */
async function startImage(cwd: string, args: string[], env: Record<string, string>, listening: RegExp, started: ChildProcess[]): Promise<string> {
  const { found } = await spawnUntil('the image', args, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'info', ...env }, onSpawn: (child) => started.push(child) }, listening, 120_000);
  return found;
}

/** The CMD of a Dockerfile's final stage, as node arguments (the `sh -c "exec node …"` form with its variables given). */
function cmdOf(dockerfile: string, vars: Record<string, string> = {}): string[] {
  const line = readFileSync(join(PROJECT_ROOT, dockerfile), 'utf8').split('\n').filter((l) => /^CMD\s/.test(l)).at(-1) ?? '';
  let argv = JSON.parse(line.replace(/^CMD\s+/, '')) as string[];
  if (argv[0] === 'sh') argv = (argv[2] ?? '').replace(/^exec\s+/, '').replace(/"?\$(\w+)"?/g, (_, name: string) => vars[name] ?? '').split(/\s+/);
  assert.equal(argv[0], 'node', `${dockerfile}: CMD starts node`);
  return argv.slice(1);
}

async function stopAll(started: ChildProcess[]): Promise<void> {
  for (const child of started.splice(0).reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

describe('the controller image, assembled from deploy/Dockerfile and started', () => {
  let db: TestDatabase;
  let root: string;
  const started: ChildProcess[] = [];
  let url = '';

  before(async () => {
    db = await createTestDatabase();
    root = mkdtempSync(join(tmpdir(), 'lm-image-'));
    // Runtime processes run as uid 65534: the tree must be reachable for them, as /app is in the image.
    chmodSync(root, 0o755);
    assemble('deploy/Dockerfile', root);
    const dataDir = mkdtempSync(join(tmpdir(), 'lm-image-data-'));
    // As a volume is mounted: searchable by others (the runtime processes' uid reaches the Rust toolchain cache in it).
    chmodSync(dataDir, 0o711);
    url = await startImage(
      root,
      cmdOf('deploy/Dockerfile'),
      // A fresh data directory, as a new volume would be. The Rust crate set (≈ 2 min to build, in the
      // runtime process's sandbox on a first start) is the suite's prebuilt one, so the start is not held.
      { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, DATA_DIR: dataDir, RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR },
      /listening on (http:\/\/[^\s"]+)/,
      started,
    );
  });

  after(async () => {
    await stopAll(started);
    await db?.drop();
    rmSync(root, { recursive: true, force: true });
  });

  async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  it('runs every language in its runtime processes, from the files the image has', async () => {
    const scripts: Record<string, string> = {
      'nodejs-image': 'return event.params.n * 2;',
      'python-image': 'result = params["n"] * 2',
      'rust-image': 'use serde_json::{json, Map, Value};\npub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n    Ok(json!(event["params"]["n"].as_i64().unwrap_or(0) * 2))\n}\n',
    };
    for (const [title, script] of Object.entries(scripts)) {
      const init = await post('/api/v1/initialize', { script_content: script }, { 'language-title': title });
      assert.equal(init.status, 200, `${title}: ${JSON.stringify(init.body)}`);
      const run = await post(`/api/v1/execute/${init.body.request_id}`, { params: { n: 21 } });
      assert.equal(run.body.result, 42, `${title}: ${JSON.stringify(run.body)}`);
    }
    const health = (await (await fetch(`${url}/health`)).json()) as { components: { runtimes: Record<string, { status: string }> } };
    for (const language of ['nodejs', 'python', 'rust']) assert.equal(health.components.runtimes[language]?.status, 'up', language);
    // The request log rows are written by a worker thread, from files the image must have too.
    await waitFor('the request_logs rows of those calls', async () => {
      const [row] = await db.query<{ n: string }>("SELECT count(*) AS n FROM public.request_logs WHERE language_title LIKE '%-image'");
      return Number(row?.n) >= 6;
    });
  });

  it('serves the web console at / to a browser, under its Content-Security-Policy', async () => {
    const page = await fetch(`${url}/`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await page.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, html.slice(0, 300));
    const script = await fetch(`${url}${asset}`);
    assert.equal(script.status, 200, `${asset} is in the image`);
  });

  it('validates heavy params on its worker thread', async () => {
    const registered = await post('/api/v1/functions', {
      language_title: 'nodejs-image_enum',
      script_content: 'return 1;',
      schema: { params: { type: 'object', properties: { list: { type: 'array', items: { enum: Array.from({ length: 5000 }, (_, i) => `v${i}`) } } } } },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const init = await post('/api/v1/initialize', {}, { 'language-title': 'nodejs-image_enum' });
    const refused = await post(`/api/v1/execute/${init.body.request_id}`, { params: { list: Array.from({ length: 2000 }, () => 'nope') } });
    assert.equal(refused.status, 400, JSON.stringify(refused.body).slice(0, 300));
    assert.equal(refused.body.error.code, 'INVALID_PARAMS');
    assert.match(refused.body.error.message, /must be equal to one of the allowed values/, 'validated, not failed to validate');
  });
});

describe('the runtime image (deploy/Dockerfile.runtime, --language nodejs) serving a controller image over gRPC', () => {
  let db: TestDatabase;
  const started: ChildProcess[] = [];
  const roots: string[] = [];
  let url = '';

  before(async () => {
    db = await createTestDatabase();
    const runtimeRoot = mkdtempSync(join(tmpdir(), 'lm-image-runtime-'));
    const controllerRoot = mkdtempSync(join(tmpdir(), 'lm-image-'));
    roots.push(runtimeRoot, controllerRoot);
    for (const dir of roots) chmodSync(dir, 0o755);
    assemble('deploy/Dockerfile.runtime', runtimeRoot);
    assemble('deploy/Dockerfile', controllerRoot);
    // The image listens on 0.0.0.0; here it stays on loopback.
    const runtimeArgs = cmdOf('deploy/Dockerfile.runtime', { LANGUAGE: 'nodejs', PORT: '0' }).map((arg) => (arg === '0.0.0.0' ? '127.0.0.1' : arg));
    const dataDir = mkdtempSync(join(tmpdir(), 'lm-image-data-'));
    chmodSync(dataDir, 0o711);
    const runtime = await startImage(runtimeRoot, runtimeArgs, { DATA_DIR: dataDir }, /runtime listening on (\S+)/, started);
    url = await startImage(
      controllerRoot,
      cmdOf('deploy/Dockerfile'),
      { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, DATA_DIR: dataDir, RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR, NODEJS_RUNTIME_URL: runtime },
      /listening on (http:\/\/[^\s"]+)/,
      started,
    );
  });

  after(async () => {
    await stopAll(started);
    await db?.drop();
    for (const dir of roots) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a Node.js script on the runtime image, reached with the protos the controller image carries', async () => {
    const init = await fetch(`${url}/api/v1/initialize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'language-title': 'nodejs-remote_image' },
      body: JSON.stringify({ script_content: 'return event.params.n + 1;' }),
    });
    const session = (await init.json()) as { request_id: string };
    assert.equal(init.status, 200, JSON.stringify(session));
    const run = await fetch(`${url}/api/v1/execute/${session.request_id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"params":{"n":41}}' });
    assert.deepEqual(((await run.json()) as { result: unknown }).result, 42);
    const health = (await (await fetch(`${url}/health`)).json()) as { components: { runtimes: { nodejs: { status: string; endpoints?: { address: string }[] } } } };
    assert.equal(health.components.runtimes.nodejs.status, 'up');
    assert.ok(health.components.runtimes.nodejs.endpoints?.every((e) => !e.address.startsWith('process:')), 'served by the runtime image, not a local process');
  });
});
