/**
 * The shared runtime contract for Node.js scripts the bundler builds (issue 14, points 4 and 5):
 * ES modules, TypeScript and npm packages from a scratch package store, through BundlingRuntime
 * over a NodejsRuntime in this process and over one reached through gRPC.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createSilentLogger } from '../../src/observability/logger.js';
import { MemoryModuleStore } from '../../src/runtimes/kit/module-store.js';
import { BundlingRuntime } from '../../src/runtimes/nodejs/bundle/bundling-runtime.js';
import { PackageStore } from '../../src/runtimes/nodejs/bundle/package-store.js';
import { NodejsRuntime } from '../../src/runtimes/nodejs/nodejs-runtime.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { DEFAULTS, NODEJS_DEFAULTS } from '../helpers/defaults.js';
import { scratchPackageStore } from '../helpers/package-store.js';
import { runRuntimeContract, runtimeHarness, type ContractFixtures } from './contract.js';
import { servedRemote } from './remote-fixtures.js';

export const BUNDLE_PACKAGES = ['lodash@4.17.21', 'dayjs@1.11.13'];
const logger = createSilentLogger();
const dependencies = { lodash: '4.17.21', dayjs: '^1.11.0' };

/** The contract's scripts as ES modules in TypeScript, with the packages declared. */
const bundledFixtures: ContractFixtures = {
  compileOptions: { typescript: true, dependencies },
  sum: 'import _ from "lodash";\ninterface Params { a: number; b: number }\nexport default (event: { params: Params }): number => _.add(event.params.a, event.params.b);',
  echo: 'export const handler = async (event: { params: unknown }) => event.params;',
  throws: { source: 'export default (): never => {\n  throw new Error("boom");\n};', name: 'Error', line: 2 },
  logsTwoLines: { source: 'export default () => {\n  console.log("first line");\n  console.log("second line");\n  return true;\n};', lines: ['first line', 'second line'] },
  infiniteLoop: 'export default () => {\n  for (;;) {}\n};',
  memoryBomb: 'export default () => {\n  const hoard: number[][] = [];\n  for (;;) hoard.push(new Array(100000).fill(1.5));\n};',
  syntaxError: { source: 'const a: number = 1;\nconst b = ;\nexport default () => a;', line: 2 },
  nonJsonResult: { source: 'export default () => 10n;', message: /not JSON-serialisable/ },
  counter: 'let calls = 0;\nexport default async (): Promise<number> => {\n  calls += 1;\n  return calls;\n};',
  cases: [
    {
      name: 'lodash and dayjs from the package store, default and named imports',
      source: 'import _, { chunk } from "lodash";\nimport dayjs from "dayjs";\nexport const handler = (event: { params: { xs: number[] } }) => [chunk(event.params.xs, 2), _.sum(event.params.xs), dayjs("2020-02-29T12:00:00Z").add(1, "year").format("YYYY-MM-DD")];',
      params: { xs: [1, 2, 3] },
      result: [[[1, 2], [3]], 6, '2021-02-28'],
    },
    {
      name: 'Node.js built-ins through import, with and without node:',
      source: 'import { createHash } from "node:crypto";\nimport path from "path";\nimport { EventEmitter } from "events";\nexport default () => [createHash("sha1").update("abc").digest("hex").slice(0, 8), path.basename("/a/b.txt"), typeof new EventEmitter().on];',
      result: ['a9993e36', 'b.txt', 'function'],
    },
    {
      name: 'TypeScript: enums, generics, classes with fields',
      source: 'enum Color { Red = "red", Blue = "blue" }\nclass Box<T> { constructor(readonly value: T) {} map<U>(f: (v: T) => U): Box<U> { return new Box(f(this.value)); } }\nexport default () => [Color.Blue, new Box(20).map((n) => n + 1).value];',
      result: ['blue', 21],
    },
    {
      name: 'CommonJS with require of a package, and a function body',
      compileOptions: { dependencies },
      source: 'const _ = require("lodash");\nreturn _.kebabCase(event.params.s) + ":" + params.s.length;',
      params: { s: 'Hello World' },
      result: 'hello-world:11',
    },
  ],
};

function bundling(inner: Runtime, store: PackageStore): BundlingRuntime {
  return new BundlingRuntime(inner, { ...DEFAULTS.nodejsBundles, store, modules: new MemoryModuleStore(64 * 1024 * 1024), logger });
}

const store = await scratchPackageStore('bundles', BUNDLE_PACKAGES);
const local = (): NodejsRuntime => new NodejsRuntime({ ...NODEJS_DEFAULTS, logger, poolSize: 2, maxPoolSize: 4, memoryLimitMb: 64 });

runRuntimeContract('nodejs bundled', () => Promise.resolve(bundling(local(), store)), bundledFixtures);
runRuntimeContract('nodejs bundled, over gRPC', async () => bundling(await servedRemote(local)(), store), bundledFixtures);


describe('bundled scripts: errors in the source\'s coordinates (source maps)', () => {
  const runtime = bundling(local(), store);
  const harness = runtimeHarness('nodejs', () => runtime);
  before(() => runtime.start());
  after(() => runtime.stop());

  it('puts a thrown error at its TypeScript line and column, its stack through the package at the package\'s file', async () => {
    const source = 'import _ from "lodash";\ntype P = { xs: number[] };\nexport default (event: { params: P }) =>\n  _.map(event.params.xs, (x: number) => {\n    if (x > 1) throw new RangeError("too big: " + x);\n    return x;\n  });';
    const error = await harness.scriptError(source, { xs: [1, 2] }, { compileOptions: { typescript: true, dependencies } });
    assert.equal(error.name, 'RangeError');
    assert.equal(error.line, 5);
    assert.equal(error.column, 22);
    assert.match(error.stack ?? '', /script\.ts:5:22/);
    assert.match(error.stack ?? '', /node_modules\/lodash\/lodash\.js:\d+:\d+/);
  });

  it('shifts a function body\'s lines back over the wrapper the bundler puts around it', async () => {
    const error = await harness.scriptError('const _ = require("lodash");\nconst n: number = params.n;\nthrow new TypeError("n is " + _.toString(n));', { n: 3 }, { compileOptions: { typescript: true, dependencies } });
    assert.equal(error.message, 'n is 3');
    assert.equal(error.line, 3);
    assert.equal(error.column, 7);
  });

  it('maps a module\'s top-level failure at prepare', async () => {
    const failure = await harness.compileFailure('import _ from "lodash";\nconst ready: boolean = _.isString(1);\nif (!ready) throw new Error("not ready");\nexport default () => 1;', { typescript: true, dependencies });
    assert.match(failure.message, /not ready/);
    assert.equal(failure.line, 3);
  });
});

describe('bundled scripts: packages that need what the sandbox lacks', () => {
  // A store made by hand (no npm): packages that reach for fs when imported, or only when called.
  const dir = mkdtempSync(join(tmpdir(), 'lm-needs-fs-'));
  const write = (path: string, text: string): void => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write('package.json', JSON.stringify({ dependencies: { 'reads-config': '1.0.0', 'lazy-fs': '1.0.0' } }));
  write('node_modules/reads-config/package.json', JSON.stringify({ name: 'reads-config', version: '1.0.0', main: 'index.js' }));
  write('node_modules/reads-config/index.js', 'const fs = require("fs");\nmodule.exports = JSON.parse(fs.readFileSync("/etc/app.json", "utf8"));\n');
  write('node_modules/lazy-fs/package.json', JSON.stringify({ name: 'lazy-fs', version: '1.0.0', main: 'index.js' }));
  write('node_modules/lazy-fs/index.js', 'exports.read = () => require("fs").readFileSync("/etc/hostname", "utf8");\nexports.ok = () => "fine";\n');
  const runtime = bundling(local(), new PackageStore(dir));
  const harness = runtimeHarness('nodejs', () => runtime);
  before(() => runtime.start());
  after(() => runtime.stop());

  it('refuses at initialize a package that needs fs when imported, naming the module and the package', async () => {
    const failure = await harness.compileFailure('import config from "reads-config";\nexport default () => config;', { dependencies: { 'reads-config': '1.0.0' } });
    assert.match(failure.message, /the Node\.js module "fs" \(required by the package "reads-config"\) is not available in the sandbox/);
  });

  it('runs a package that needs fs only on a path the script does not take, and names it on the one it does', async () => {
    const options = { compileOptions: { dependencies: { 'lazy-fs': '1' } } };
    assert.equal(await harness.ok('import { ok } from "lazy-fs";\nexport default () => ok();', {}, options), 'fine');
    const error = await harness.scriptError('import { read } from "lazy-fs";\nexport default () => read();', {}, options);
    assert.match(error.message, /"fs" \(required by the package "lazy-fs"\) is not available in the sandbox/);
  });
});
