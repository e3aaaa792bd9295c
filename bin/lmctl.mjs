#!/usr/bin/env node
// lmctl in a checkout, with no build step to remember: the CLI's TypeScript sources (src/cli/ and
// the SDK it imports, packages/client/src/) are bundled by esbuild (a dependency) into
// node_modules/.cache/lmctl/ whenever one of them is newer than the bundle, and the bundle runs.
// Packages stay external (node_modules). Why not tsx's loader: it costs ~0.4 s on every start,
// and a CLI is started often; tsx is still the fallback when the bundle cannot be written.
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { newestMtime } from '../scripts/newest-mtime.mjs';

const root = new URL('..', import.meta.url);
const entry = fileURLToPath(new URL('src/cli/lmctl.ts', root));
const sources = ['src/cli', 'packages/client/src'].map((dir) => fileURLToPath(new URL(dir, root)));
const cacheDir = new URL('node_modules/.cache/lmctl/', root);
const bundle = new URL('lmctl.mjs', cacheDir);

async function ensureBundle() {
  const builtAt = statSync(bundle, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  // This launcher too: its options shape the bundle.
  const changedAt = Math.max(newestMtime(fileURLToPath(import.meta.url)), ...sources.map(newestMtime));
  if (changedAt < builtAt) return true;
  try {
    const { build } = await import('esbuild');
    mkdirSync(cacheDir, { recursive: true });
    // Written aside and renamed: lmctl started twice at once never runs half a bundle.
    const partial = new URL(`lmctl.${process.pid}.mjs`, cacheDir);
    await build({
      entryPoints: [entry],
      outfile: fileURLToPath(partial),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // The workspace SDK is source, not a built package: bundled with the CLI.
      alias: { '@lambda-microservice/client': fileURLToPath(new URL('packages/client/src/index.ts', root)) },
      logLevel: 'error',
    });
    renameSync(partial, bundle);
    return true;
  } catch (error) {
    process.stderr.write(`lmctl: could not bundle the CLI (${error?.message ?? error}); running it through tsx\n`);
    return false;
  }
}

if (await ensureBundle()) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('src/cli/lmctl.ts', root).href);
}
