import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { RunningService } from '../../src/main/service.js';
import { DEFAULTS } from '../helpers/defaults.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { makePackagesDir, type TestPackagesDir } from '../helpers/python-packages.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

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

  it('describes Python: the interpreter version, no packages unless configured', async () => {
    const python = (await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[1];
    assert.deepEqual(python.language_titles, ['python-']);
    assert.match(python.versions.python, /^3\.\d+\.\d+$/);
    assert.equal(python.forms.length, 3);
    assert.deepEqual(python.packages, []);
    assert.deepEqual(python.limits, { ...LIMITS, memory_mb: DEFAULTS.python.memoryLimitMb });
  });

  it('describes Rust: rustc, the target, the crate set with versions, the three forms', async () => {
    const rust = (await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[2];
    assert.deepEqual(rust.language_titles, ['rust-']);
    assert.match(rust.versions.rustc, /^rustc \d+\.\d+\.\d+/);
    assert.equal(rust.versions.target, 'wasm32-wasi');
    const crates = rust.crates as { name: string; version: string }[];
    assert.deepEqual(
      crates.map((crate) => crate.name),
      ['serde', 'serde_json', 'regex', 'chrono', 'base64', 'sha2', 'hex', 'rand', 'itertools', 'uuid'],
    );
    for (const crate of crates) assert.match(crate.version, /^\d+\.\d+\.\d+$/, crate.name);
    assert.deepEqual(
      (rust.forms as string[]).map((form) => form.split(':')[0]),
      ['handler', 'serde handler', 'program', 'module'],
    );
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

/** What Debian's python3 itself says the versions of its numpy, yaml and dateutil are (the oracle for the listing, which reads metadata files). */
function debianPythonVersions(): Record<string, string> {
  const source = 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import json, numpy, yaml, dateutil; print(json.dumps({"numpy": numpy.__version__, "PyYAML": yaml.__version__, "python-dateutil": dateutil.__version__}))';
  return JSON.parse(execFileSync('/usr/bin/python3', ['-I', '-S', '-c', source], { encoding: 'utf8' })) as Record<string, string>;
}

describe('GET /api/v1/runtimes with Python packages (PYTHON_PACKAGES_DIR, PYTHON_SYSTEM_PACKAGES, PYTHON_PRELOAD)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let packages: TestPackagesDir;
  type Listed = Array<{ name: string; version: string }>;
  const listed = async (): Promise<Listed> => ((await call(service, 'GET', '/api/v1/runtimes')).body.runtimes[1] as { packages: Listed }).packages;

  before(async () => {
    db = await createTestDatabase();
    packages = makePackagesDir({
      files: {
        'lm_probe/__init__.py': 'VALUE = 1\n',
        // setuptools' older forms: an egg-info directory, and an egg-info file (Debian has both).
        'lm_egg-0.3.egg-info/PKG-INFO': 'Metadata-Version: 1.1\nName: lm-egg\nVersion: 0.3\n',
        'lm_eggfile-2.1-py3.11.egg-info': 'Metadata-Version: 1.1\nName: lm-eggfile\nVersion: 2.1\n',
        // Metadata without headers: the entry's name tells.
        'lm_bare-4.5.dist-info/METADATA': '',
        // Not a package: no version anywhere.
        'notes.dist-info/METADATA': 'Summary: nothing\n',
        // Elsewhere, for the symlink below.
        'elsewhere/METADATA': 'Metadata-Version: 2.1\nName: lm-linked\nVersion: 9.9\n',
      },
      // The same project as Debian's python3-yaml: the operator's comes first on sys.path, so it is the one listed.
      distributions: { 'lm-probe': '1.0.0', PyYAML: '99.0' },
      // A symlinked entry is not listed: in the sandbox it resolves in the worker's view, not the host's.
      symlinks: { 'lm_linked-9.9.dist-info': 'elsewhere' },
    });
    service = await startTestService({ DATABASE_URL: db.url, PYTHON_PACKAGES_DIR: packages.dir, PYTHON_SYSTEM_PACKAGES: 'true', PYTHON_PRELOAD: 'numpy' });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
    packages?.remove();
  });

  it("lists the operator's packages, then Debian's, by name, with their versions", async () => {
    const list = await listed();
    const byName = new Map(list.map((p) => [p.name, p.version]));
    const debian = debianPythonVersions();
    assert.equal(byName.get('lm-probe'), '1.0.0');
    assert.equal(byName.get('lm-egg'), '0.3');
    assert.equal(byName.get('lm-eggfile'), '2.1');
    assert.equal(byName.get('lm_bare'), '4.5');
    assert.equal(byName.get('numpy'), debian.numpy);
    assert.equal(byName.get('python-dateutil'), debian['python-dateutil']);
    assert.equal(byName.get('PyYAML'), '99.0', `the operator's PyYAML, not Debian's ${debian.PyYAML}`);
    assert.equal(byName.has('lm-linked'), false);
    assert.equal(byName.has('not-this-one'), false);
    assert.ok(!list.some((p) => p.name === 'notes' || p.name === ''), JSON.stringify(list));
    // One entry per project, in order of the normalised name.
    const keys = list.map((p) => p.name.replace(/[-_.]+/g, '-').toLowerCase());
    assert.deepEqual(keys, [...new Set(keys)].sort());
  });

  it('sees a package installed after the last request', async () => {
    assert.equal((await listed()).some((p) => p.name === 'lm-late'), false);
    mkdirSync(join(packages.dir, 'lm_late-0.1.dist-info'), { mode: 0o755 });
    writeFileSync(join(packages.dir, 'lm_late-0.1.dist-info', 'METADATA'), 'Name: lm-late\nVersion: 0.1\n');
    assert.deepEqual((await listed()).find((p) => p.name === 'lm-late'), { name: 'lm-late', version: '0.1' });
  });

  it('runs a script importing them in the runtime processes (which hand the mounts on to the workers)', async () => {
    const init = await initialize(service, 'python-packages', { script_content: 'import numpy, yaml, lm_probe\nresult = [int(numpy.arange(params["n"]).sum()), yaml.safe_load("a: 1"), lm_probe.VALUE]' });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const run = await execute(service, init.body.request_id, { n: 5 });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.deepEqual(run.body.result, [10, { a: 1 }, 1]);
    // The runtime process's workers preload numpy, as its health says.
    const python = (await call(service, 'GET', '/health')).body.components.runtimes.python as { endpoints: Array<{ details?: { packages?: Record<string, unknown> } }> };
    const reported = python.endpoints[0]?.details?.packages;
    assert.deepEqual([reported?.preload, reported?.system, reported?.dir], [['numpy'], true, packages.dir], JSON.stringify(python));
  });
});
