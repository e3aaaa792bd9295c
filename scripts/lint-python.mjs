#!/usr/bin/env node
// Lints the guest Python (every .py under src/) with pyflakes and type-checks it with mypy (bodies
// of unannotated functions included), run by the interpreter the workers run on (/usr/bin/python3,
// Debian's python3-pyflakes and python3-mypy; `npm run setup` installs them as root).
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
const tools = [
  { module: 'pyflakes', debian: 'python3-pyflakes', args: [] },
  { module: 'mypy', debian: 'python3-mypy', args: ['--check-untyped-defs', '--no-error-summary'] },
];
for (const tool of tools) {
  if (spawnSync(python, ['-c', `import ${tool.module}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`lint-python: ${python} has no ${tool.module}: install the Debian package ${tool.debian} (\`npm run setup\` does, as root)`);
    process.exit(1);
  }
  const run = spawnSync(python, ['-m', tool.module, ...tool.args, ...files], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
