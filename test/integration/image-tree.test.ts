/**
 * The controller image (deploy/Dockerfile) as far as it can run here: no Docker engine, so its
 * file tree is assembled from the Dockerfile's final stage (every COPY, the build stage's dist/
 * compiled by tsc, its node_modules those of this checkout) and started as the image's CMD would.
 * Runtime processes and worker threads load files by path; a file the image lacks shows here, and
 * so does what a first start on an empty volume needs (the Rust crates are built in the sandbox).
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PROJECT_ROOT } from '../../src/config/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

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
      else if (source.endsWith('dist')) execFileSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(PROJECT_ROOT, 'tsconfig.build.json'), '--outDir', to]);
      else assert.fail(`unknown build output ${source}`);
    } else {
      for (const part of source === './' ? [] : [source]) cpSync(join(PROJECT_ROOT, part), target.endsWith('/') ? join(to, part) : to, { recursive: true });
    }
  }
}

describe('the controller image, assembled from deploy/Dockerfile and started', () => {
  let db: TestDatabase;
  let root: string;
  let child: ChildProcess | undefined;
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
    child = spawn(process.execPath, ['--no-node-snapshot', 'dist/src/main/server.js'], {
      cwd: root,
      // A fresh data directory, as a new volume would be: the Rust runtime process builds its crates there first, in its sandbox.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the image did not start:\n${output}`)), 120_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const match = /listening on (http:\/\/[^\s"]+)/.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child?.stdout?.on('data', onData);
      child?.stderr?.on('data', onData);
      child?.on('exit', (code) => reject(new Error(`the image exited ${String(code)}:\n${output}`)));
    });
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
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
