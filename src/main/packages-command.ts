// `npm run packages -- add NAME@VERSION [...]`, `remove NAME [...]`, `list [--json]`: the operator's
// command for the npm package store Node.js scripts declare `dependencies` from
// (NODEJS_PACKAGES_DIR, default DATA_DIR/nodejs-packages). It runs npm in the store with install
// scripts off (nothing of a package runs on the host), pins exact versions, and says which
// packages have native addons (scripts declaring those are refused: they cannot run in the sandbox).
// Compiled with the service: in the image, `node dist/src/main/packages-command.js add NAME@VERSION`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';

import { loadConfig } from '../config/config.js';
import { nativeAddon, packageNameProblem, PackageStore } from '../runtimes/nodejs/bundle/package-store.js';

const USAGE = 'usage: npm run packages -- add NAME@VERSION [...] | remove NAME [...] | list [--json]';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** `lodash@4.17.21` → name and version (a version or range; `latest` when none is given). */
function parseSpec(spec: string): { name: string; version: string } {
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : 'latest';
  const problem = packageNameProblem(name);
  if (problem) fail(problem);
  if (version !== 'latest' && semver.validRange(version) === null) fail(`${spec}: the version must be a semver version or range`);
  return { name, version };
}

function npm(dir: string, args: string[]): void {
  // Under `npm run`, the npm that runs this; else the one on the PATH.
  const cli = process.env.npm_execpath;
  const [command, prefix] = cli && cli.endsWith('.js') ? [process.execPath, [cli]] : ['npm', []];
  const result = spawnSync(command, [...prefix, ...args, '--prefix', dir, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
  if (result.status !== 0) fail(`npm ${args[0]} failed (exit ${result.status ?? result.signal})`);
}

const [command, ...rest] = process.argv.slice(2);
const config = loadConfig();
const dir = config.nodejsBundles.packagesDir;
const store = new PackageStore(dir);

if (!existsSync(join(dir, 'package.json'))) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'lambda-nodejs-packages', private: true, description: 'npm packages Node.js scripts may declare in "dependencies" (npm run packages)', dependencies: {} }, null, 2)}\n`);
}

switch (command) {
  case 'add': {
    if (rest.length === 0) fail(USAGE);
    const specs = rest.map(parseSpec);
    npm(dir, ['install', '--save-exact', ...specs.map((s) => `${s.name}@${s.version}`)]);
    const listed = await store.list();
    for (const { name } of specs) {
      const installed = listed.find((p) => p.name === name);
      if (!installed) fail(`${name} is not in the store after npm install`);
      const native = await nativeAddon(installed.dir);
      say(`added ${name}@${installed.version}${native ? ` (WARNING: a native addon, ${native}: scripts that declare it are refused)` : ''}`);
    }
    break;
  }
  case 'remove': {
    if (rest.length === 0) fail(USAGE);
    for (const name of rest) {
      const problem = packageNameProblem(name);
      if (problem) fail(problem);
    }
    npm(dir, ['uninstall', ...rest]);
    say(`removed ${rest.join(', ')}`);
    break;
  }
  case 'list': {
    const packages = await store.list();
    if (rest.includes('--json')) say(JSON.stringify(packages.map(({ name, version }) => ({ name, version }))));
    else if (packages.length === 0) say(`the package store ${dir} is empty`);
    else for (const { name, version } of packages) say(`${name}@${version}`);
    break;
  }
  default:
    fail(USAGE);
}
