/**
 * A scratch npm package store for tests, filled through the operator command
 * (`npm run packages -- add ...`, src/main/packages-command.ts) from the npm registry, once per set of
 * packages: a later run finds them installed. Each test file passes its own label, so that two
 * files never run npm in one folder at once.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PROJECT_ROOT } from '../../src/config/paths.js';
import { PackageStore } from '../../src/runtimes/nodejs/bundle/package-store.js';

export async function scratchPackageStore(label: string, specs: readonly string[]): Promise<PackageStore> {
  const dir = join(tmpdir(), `lambda-test-packages-${label}-${createHash('sha256').update(specs.join(' ')).digest('hex').slice(0, 12)}`);
  const store = new PackageStore(dir);
  const have = new Set((await store.list()).map((p) => `${p.name}@${p.version}`));
  if (specs.every((spec) => have.has(spec))) return store;
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/packages-command.ts', 'add', ...specs], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NODEJS_PACKAGES_DIR: dir },
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (result.status !== 0) throw new Error(`npm run packages -- add ${specs.join(' ')} failed: ${result.stderr || result.stdout}`);
  return store;
}
