import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { RunningService } from '../../src/main/service.js';
import { DEFAULTS } from '../helpers/defaults.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { call, startTestService } from '../helpers/service.js';

const SECRET = 'test-secret-that-is-long-enough-0123456789';

/** Puts `name@version` in the package store at `dir`, as `npm run packages -- add` leaves it. */
async function addPackage(dir: string, packages: Record<string, string>): Promise<void> {
  await writeFile(join(dir, 'package.json'), JSON.stringify({ dependencies: Object.fromEntries(Object.keys(packages).map((name) => [name, '*'])) }));
  for (const [name, version] of Object.entries(packages)) {
    await mkdir(join(dir, 'node_modules', name), { recursive: true });
    await writeFile(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  }
}

const LIMITS = {
  timeout_ms_default: Math.min(DEFAULTS.defaultTimeoutMs, DEFAULTS.runtimeTimeoutSeconds * 1000),
  timeout_ms_max: DEFAULTS.runtimeTimeoutSeconds * 1000,
  max_result_bytes: DEFAULTS.maxResultBytes,
  max_log_entries: DEFAULTS.maxLogEntries,
  max_log_bytes: DEFAULTS.maxLogBytes,
  max_script_bytes: DEFAULTS.maxScriptSize,
};

describe('GET /api/v1/runtimes (real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let packagesDir: string;

  before(async () => {
    db = await createTestDatabase();
    packagesDir = await mkdtemp(join(tmpdir(), 'lm-test-packages-'));
    await addPackage(packagesDir, { 'left-pad': '1.3.0' });
    service = await startTestService({ DATABASE_URL: db.url, NODEJS_PACKAGES_DIR: packagesDir });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
    if (packagesDir) await rm(packagesDir, { recursive: true, force: true });
  });

  it('lists nodejs, python and rust in that order', async () => {
    const res = await call(service, 'GET', '/api/v1/runtimes');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.runtimes.map((r: { language: string }) => r.language), ['nodejs', 'python', 'rust']);
  });

  it('describes Node.js: versions, titles, forms, globals, built-ins, crypto, packages, limits', async () => {
    const nodejs = (await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[0];
    assert.deepEqual(nodejs.language_titles, ['nodejs-', 'typescript- (TypeScript)', '^js-']);
    assert.deepEqual(nodejs.versions, { node: process.versions.node, v8: process.versions.v8 });
    assert.equal(nodejs.forms.length, 4);
    assert.ok(nodejs.forms.some((f: string) => f.startsWith('esm:')));
    assert.ok(nodejs.globals.includes('URL'));
    assert.ok(nodejs.globals.includes('TextEncoder'));
    assert.ok(nodejs.builtins.available.includes('crypto'));
    assert.ok(nodejs.builtins.unavailable.includes('fs'));
    assert.ok(!nodejs.builtins.unavailable.includes('crypto'));
    assert.ok(nodejs.crypto.hashes.includes('sha256'));
    assert.ok(nodejs.crypto.functions.includes('randomUUID'));
    assert.deepEqual(nodejs.packages, [{ name: 'left-pad', version: '1.3.0' }]);
    assert.deepEqual(nodejs.limits, { ...LIMITS, memory_mb: DEFAULTS.nodejs.memoryLimitMb, max_bundle_bytes: DEFAULTS.nodejsBundles.maxBundleBytes });
  });

  it('reads the package store at each request', async () => {
    await addPackage(packagesDir, { 'left-pad': '1.3.0', 'is-odd': '3.0.1' });
    const nodejs = (await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[0];
    assert.deepEqual(nodejs.packages, [
      { name: 'is-odd', version: '3.0.1' },
      { name: 'left-pad', version: '1.3.0' },
    ]);
  });

  it('describes Python: the interpreter version, no packages yet', async () => {
    const python = (await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[1];
    assert.deepEqual(python.language_titles, ['python-']);
    assert.match(python.versions.python, /^3\.\d+\.\d+$/);
    assert.equal(python.forms.length, 3);
    assert.deepEqual(python.packages, []);
    assert.deepEqual(python.limits, { ...LIMITS, memory_mb: DEFAULTS.python.memoryLimitMb });
  });

  it('describes Rust: rustc, the target, serde_json', async () => {
    const rust = (await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[2];
    assert.deepEqual(rust.language_titles, ['rust-']);
    assert.match(rust.versions.rustc, /^rustc \d+\.\d+\.\d+/);
    assert.equal(rust.versions.target, 'wasm32-wasi');
    assert.equal(rust.crates.length, 1);
    assert.equal(rust.crates[0].name, 'serde_json');
    assert.match(rust.crates[0].version, /^\d+\.\d+\.\d+$/);
    assert.deepEqual(rust.limits, { ...LIMITS, memory_mb: DEFAULTS.rust.memoryLimitMb, compile_timeout_ms: DEFAULTS.wasmCompileTimeoutSeconds * 1000 });
  });

  it('answers the same versions every time (probed once)', async () => {
    const [a, b] = await Promise.all([call(service, 'GET', '/api/v1/runtimes'), call(service, 'GET', '/api/v1/runtimes')]);
    assert.deepEqual(a.body.runtimes[1].versions, b.body.runtimes[1].versions);
    assert.deepEqual(a.body.runtimes[2].versions, b.body.runtimes[2].versions);
  });
});

describe('GET /api/v1/runtimes with auth on', () => {
  let db: TestDatabase;
  let service: RunningService;

  before(async () => {
    db = await createTestDatabase();
    service = await startTestService({ DATABASE_URL: db.url, AUTH_JWT_SECRET: SECRET, RATE_LIMIT_ENABLED: 'false' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  const token = (scope: string): Promise<string> =>
    new SignJWT({ sub: 'u', scope }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));

  it('needs read:functions, like the functions catalog', async () => {
    const anonymous = await call(service, 'GET', '/api/v1/runtimes');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'UNAUTHORIZED');
    const executor = await call(service, 'GET', '/api/v1/runtimes', { headers: { authorization: `Bearer ${await token('execute:all')}` } });
    assert.equal(executor.status, 403);
    const reader = await call(service, 'GET', '/api/v1/runtimes', { headers: { authorization: `Bearer ${await token('read:functions')}` } });
    assert.equal(reader.status, 200);
    assert.equal(reader.body.runtimes.length, 3);
  });
});
