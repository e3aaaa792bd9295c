#!/usr/bin/env node
// Lints the guest Python (every .py under src/) with pyflakes, run by the interpreter the workers
// run on (/usr/bin/python3, Debian's python3-pyflakes; `npm run setup` installs it as root).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const python = '/usr/bin/python3';
const files = readdirSync(join(root, 'src'), { recursive: true })
  .filter((path) => path.endsWith('.py'))
  .map((path) => relative(root, join(root, 'src', path)))
  .sort();

if (files.length === 0) process.exit(0);
const probe = spawnSync(python, ['-c', 'import pyflakes'], { stdio: 'ignore' });
if (probe.status !== 0) {
  console.error(`lint-python: ${python} has no pyflakes: install the Debian package python3-pyflakes (\`npm run setup\` does, as root)`);
  process.exit(1);
}
const run = spawnSync(python, ['-m', 'pyflakes', ...files], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
