/**
 * Builds the guest platform (platform/, the web globals and Node.js built-ins of the sandbox) into
 * one script with esbuild, for the guest prelude (nodejs-runtime.ts). Its polyfills are npm
 * packages of this project, resolved for the browser (none reaches for the host), each kept behind
 * esbuild's lazy module wrapper.
 *
 * The bundle is kept in a file named by a hash of what it is built from, under
 * node_modules/.cache: a runtime process, whose sandbox runs no other program (no esbuild) and
 * writes no project file, reads the one the service built before starting it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build, version as esbuildVersion, type Plugin } from 'esbuild';

import { projectPath } from '../../config/paths.js';
import { NODE_BUILTINS } from './platform-catalog.js';

/** Node.js's built-ins the sandbox does not offer (fs, net, http, child_process, worker_threads...). */
export const UNAVAILABLE_BUILTINS: readonly string[] = builtinModules.filter((name) => !name.startsWith('_') && !(NODE_BUILTINS as readonly string[]).includes(name)).sort();

/** The name of the platform's value inside the prelude's closure (a `var`, so never a global). */
export const PLATFORM_NAME = 'lambdaPlatform';

const PLATFORM_DIR = projectPath('src', 'runtimes', 'nodejs', 'platform');
const TR46_SHIM = `${PLATFORM_DIR}/tr46.js`;
const REAL_TR46 = Symbol('tr46');

/** whatwg-url's `tr46` is platform/tr46.js (its ASCII fast path), whose own `tr46` is whatwg-url's. */
const tr46FastPath: Plugin = {
  name: 'tr46-fast-path',
  setup(build) {
    const whatwgUrl = dirname(createRequire(import.meta.url).resolve('whatwg-url'));
    build.onResolve({ filter: /^tr46$/ }, (args) => {
      if (args.pluginData === REAL_TR46) return undefined;
      if (args.importer !== TR46_SHIM) return { path: TR46_SHIM };
      return build.resolve('tr46', { kind: args.kind, resolveDir: whatwgUrl, pluginData: REAL_TR46 });
    });
  },
};

const CACHE_DIR = projectPath('node_modules', '.cache', 'lambda-nodejs-platform');

/** What the bundle is built from: the platform's files, the catalog, the pinned packages, esbuild and Node.js. */
async function platformKey(): Promise<string> {
  const hash = createHash('sha256').update(`${esbuildVersion}\0${process.version}\0`);
  const files = [...(await readdir(PLATFORM_DIR)).filter((name) => name.endsWith('.js')).sort().map((name) => join(PLATFORM_DIR, name)), projectPath('src', 'runtimes', 'nodejs', 'platform-catalog.ts'), projectPath('package.json')];
  for (const file of files) hash.update(file).update('\0').update(await readFile(file)).update('\0');
  return hash.digest('hex').slice(0, 32);
}

/**
 * The platform bundle: from its file when it was built before, else built (and its file written
 * where it can be). In a runtime process's sandbox it can only be read.
 */
export async function platformBundle(): Promise<string> {
  const file = join(CACHE_DIR, `${await platformKey()}.js`);
  if (existsSync(file)) return readFile(file, 'utf8');
  let text: string;
  try {
    text = await buildPlatform();
  } catch (error) {
    throw new Error(`the Node.js platform bundle ${file} is missing and could not be built here (the service builds it before it starts its runtime processes): ${(error as Error).message}`);
  }
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    await writeFile(partial, text);
    await rename(partial, file);
  } catch {
    // A read-only tree: this process keeps its own copy.
  }
  return text;
}

export async function buildPlatform(): Promise<string> {
  const result = await build({
    entryPoints: [`${PLATFORM_DIR}/index.js`],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: PLATFORM_NAME,
    platform: 'browser',
    target: 'es2022',
    // Node.js's names of the modules the polyfills require of each other.
    alias: { path: 'path-browserify', querystring: 'querystring-es3' },
    // Code that reads `process` (util, assert) gets the sandbox's, not a global.
    inject: [`${PLATFORM_DIR}/process.js`],
    plugins: [tr46FastPath],
    define: {
      LAMBDA_UNAVAILABLE_BUILTINS: JSON.stringify(UNAVAILABLE_BUILTINS),
      LAMBDA_NODE_VERSION: JSON.stringify(process.version),
      global: 'globalThis',
    },
    // Smaller to compile in each new isolate; names kept for stacks and `constructor.name` checks.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild wrote no platform bundle');
  return output.text;
}
