#!/usr/bin/env node
// Idempotent set-up run before `npm start`, `npm test` and `npm run bench`: installs the npm
// packages from the lock file when they are missing or stale. Later runtimes add their system
// packages here, so nothing is ever installed by hand.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

ensureNpmPackages();
