#!/usr/bin/env node
// Idempotent set-up run before `npm start`, `npm test` and `npm run bench`: installs the npm
// packages from the lock file when they are missing or stale, and the runtimes' system packages
// (bubblewrap for Python), so nothing is ever installed by hand.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildConsole } from '../web/build.mjs';

const root = new URL('..', import.meta.url).pathname;
const log = (msg) => process.stderr.write(`[setup] ${msg}\n`);

function ensureNpmPackages() {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const digest = createHash('sha256').update(lock).update(readFileSync(join(root, 'package.json'))).digest('hex');
  const stamp = join(root, 'node_modules', '.lambda-setup-stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  log('installing npm packages (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  writeFileSync(stamp, digest);
}

/**
 * The Python runtime's sandbox: Debian's bubblewrap. Quiet when `bwrap` is there; installs it as
 * root (running `apt-get update` first only when the package lists lack it); otherwise says why
 * and goes on: the Python runtime then reports itself unavailable, with the reason, in /health.
 */
function ensureBubblewrap() {
  const present = () => ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'].some((path) => existsSync(path));
  if (present()) return;
  const skip = (why) => log(`bubblewrap (bwrap) is missing and ${why}: the Python runtime will report itself unavailable (install the Debian package bubblewrap, or set PYTHON_ALLOW_UNSANDBOXED=true, which is unsafe)`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return skip('installing it needs root');
  if (!existsSync('/usr/bin/apt-get')) return skip('there is no apt-get here');
  const apt = (args) =>
    execFileSync('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 });
  const firstLine = (error) => String(error?.stderr || error?.message || error).trim().split('\n').pop();
  log('installing bubblewrap for the Python sandbox (apt-get install -y bubblewrap)');
  try {
    apt(['install', '-y', '--no-install-recommends', 'bubblewrap']);
  } catch (error) {
    const text = `${String(error?.stdout ?? '')}${String(error?.stderr ?? '')}`;
    if (!/Unable to locate package|has no installation candidate/.test(text)) return skip(`apt-get install failed (${firstLine(error)})`);
    try {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', 'bubblewrap']);
    } catch (retryError) {
      return skip(`apt-get update + install failed (${firstLine(retryError)})`);
    }
  }
  if (present()) log('bubblewrap installed');
  else skip('apt-get did not install it');
}

/** Debian packages for `what`, installed as root when missing; otherwise `without` says what then happens. */
function ensureDebianPackages(packages, what, without) {
  const missing = packages.filter((name) => {
    try {
      return !execFileSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  const skip = (why) => log(`packages for ${what} missing (${missing.join(' ')}) and ${why}: ${without}`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return skip('installing them needs root');
  if (!existsSync('/usr/bin/apt-get')) return skip('there is no apt-get here');
  const apt = (args) => execFileSync('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
  log(`installing ${missing.join(' ')} for ${what}`);
  try {
    apt(['install', '-y', '--no-install-recommends', ...missing]);
  } catch {
    try {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', ...missing]);
    } catch (error) {
      return skip(`apt-get failed (${String(error?.stderr || error).trim().split('\n').pop()})`);
    }
  }
}

ensureNpmPackages();
ensureBubblewrap();
// The Rust runtime's toolchain: Debian's rustc with the wasm32-wasi standard library, the sources of
// the crates scripts may use (src/runtimes/rust/crates.json), and lld (rust-lld links wasm; Debian
// only recommends it, so it is named here).
const crateSet = JSON.parse(readFileSync(join(root, 'src', 'runtimes', 'rust', 'crates.json'), 'utf8'));
const cratePackages = [...crateSet.crates.flatMap((crate) => crate.debian), ...crateSet.support];
ensureDebianPackages(['rustc', 'cargo', 'libstd-rust-dev-wasm32', ...cratePackages, 'lld-14', 'bubblewrap'], 'the Rust (WebAssembly) runtime', 'the Rust runtime will report itself unavailable');
// Python packages scripts may import when PYTHON_SYSTEM_PACKAGES=true (the runtime contract and
// exploit tests turn it on and import these three).
ensureDebianPackages(['python3-numpy', 'python3-yaml', 'python3-dateutil'], 'the Python runtime\'s system packages (PYTHON_SYSTEM_PACKAGES)', 'the Python package tests will fail');
// pyflakes and mypy for the Python guest code, checked by `npm run lint` (scripts/lint-python.mjs).
ensureDebianPackages(['python3-pyflakes', 'python3-mypy'], 'linting and type-checking the Python guest', '`npm run lint` will fail');
if (process.argv.includes('--test')) {
  // The web console's browser tests (test/console/) drive Debian's Chromium with playwright-core
  // (whose own browser download cannot work here), against the console as built from web/.
  ensureDebianPackages(['chromium'], 'the web console\'s browser tests', 'the tests under test/console/ will fail');
  try {
    buildConsole();
  } catch {
    // Vite printed why; the rest of the suite does not need the console.
    log('the web console did not build (vite build web, above): the tests under test/console/ will fail');
  }
}
// The Rust crate set, built once per toolchain (≈ 2 min on two cores) before a start or a test run
// rather than during it: `--test` builds the test suite's shared cache (setup is run with it by pretest).
execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'prepare-rust.ts'), ...(process.argv.includes('--test') ? ['--test'] : [])], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
});
