#!/usr/bin/env node
// Builds the web console (web/ → dist/web/) with Vite. `npm run build` runs `vite build web`
// directly; this file is for the callers that only want a build when it is missing or older than
// its sources: `scripts/setup.mjs --test` (before `npm test`) and the console tests themselves.
//   node web/build.mjs            build when stale
//   node web/build.mjs --force    build
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { newestMtime } from '../scripts/newest-mtime.mjs';

const root = new URL('..', import.meta.url).pathname;
export const CONSOLE_INDEX = join(root, 'dist', 'web', 'index.html');

/** Whether dist/web/ is missing or older than what it is built from (the console, the SDK it calls, the service code it shares, the lock file). */
export function consoleBuildIsStale() {
  if (!existsSync(CONSOLE_INDEX)) return true;
  const inputs = [join(root, 'web'), join(root, 'packages', 'client', 'src'), join(root, 'src', 'common', 'plain-object.ts'), join(root, 'package-lock.json')];
  const sources = Math.max(...inputs.map(newestMtime));
  return statSync(CONSOLE_INDEX).mtimeMs < sources;
}

/** Runs `vite build web` (≈ 2 s) when the build is stale or `force`; answers whether it built. */
export function buildConsole({ force = false } = {}) {
  if (!force && !consoleBuildIsStale()) return false;
  execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'warn'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 180_000,
  });
  return true;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  buildConsole({ force: process.argv.includes('--force') });
}
