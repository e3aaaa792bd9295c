#!/usr/bin/env node
// `npm run check:generated`: the gRPC types in src/rpc/generated/ are what `npm run gen:proto`
// makes from proto/*.proto now; a proto changed without regenerating fails here, naming the files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const committed = join(root, 'src', 'rpc', 'generated');
const script = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['gen:proto'];
const fresh = mkdtempSync(join(tmpdir(), 'lm-gen-'));

function files(dir) {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : [join(dir, name)]));
}

try {
  const args = script.split(/\s+/).slice(1).map((arg) => (arg.startsWith('--outDir=') ? `--outDir=${fresh}` : arg));
  execFileSync(join(root, 'node_modules', '.bin', 'proto-loader-gen-types'), args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const want = new Map(files(fresh).map((f) => [relative(fresh, f), readFileSync(f, 'utf8')]));
  const have = new Map(files(committed).map((f) => [relative(committed, f), readFileSync(f, 'utf8')]));
  const stale = [...new Set([...want.keys(), ...have.keys()])].filter((f) => want.get(f) !== have.get(f)).sort();
  if (stale.length > 0) {
    process.stderr.write(`src/rpc/generated/ does not match proto/ (run npm run gen:proto): ${stale.join(', ')}\n`);
    process.exit(1);
  }
  process.stdout.write(`src/rpc/generated/ matches proto/ (${want.size} files)\n`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
