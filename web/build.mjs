#!/usr/bin/env node
// Builds the web console (web/ → dist/web/) with Vite. `npm run build` runs `vite build web`
// directly; this file is for the callers that only want a build when it is missing or older than
// its sources: `scripts/setup.mjs --test` (before `npm test`) and the console tests themselves.
//   node web/build.mjs            build when stale
//   node web/build.mjs --force    build
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
export const CONSOLE_INDEX = join(root, 'dist', 'web', 'index.html');

/** The newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => (name === 'node_modules' ? newest : Math.max(newest, newestMtime(join(path, name)))), 0);
}

/** Whether dist/web/ is missing or older than what it is built from (the console, the SDK it calls, the lock file). */
export function consoleBuildIsStale() {
  if (!existsSync(CONSOLE_INDEX)) return true;
  const sources = Math.max(newestMtime(join(root, 'web')), newestMtime(join(root, 'packages', 'client', 'src')), newestMtime(join(root, 'package-lock.json')));
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
