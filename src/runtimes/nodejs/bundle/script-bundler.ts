/**
 * Builds a Node.js script that needs more than V8 into one CommonJS module for the isolate, with
 * esbuild (its parser runs in esbuild's own process, never on the service thread): ES modules
 * (`import`, `export default`), TypeScript, and scripts with npm `dependencies`, whose packages are
 * bundled in from the operator's package store. Node.js built-ins stay outside the bundle: the
 * isolate's `require` answers them (platform/index.js).
 *
 * What a script can reach is decided here, by one resolver every import goes through: from the
 * script, only the built-ins and the packages it declares; from a package, only files inside the
 * store. A second check on every file loaded refuses anything outside the store, so a resolver
 * mistake cannot read a host file into a bundle.
 */
import { realpath } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { build, version as esbuildVersion, type BuildFailure, type Message, type Plugin } from 'esbuild';

import { errorMessage } from '../../kit/invocation.js';
import type { CompileFailure } from '../../runtime.js';
import { NODE_BUILTINS } from '../platform-catalog.js';
import { UNAVAILABLE_BUILTINS } from '../platform-bundle.js';
import { describeCompileFailure, detectForm } from '../source-forms.js';
import { isInside, packageNameProblem, packageOfSpecifier, type StoredPackage } from './package-store.js';
import type { BundleMap } from './source-map.js';

/** Bumped when the bundles this file builds change: part of every bundle's key. */
export const BUNDLER_VERSION = 2;
export const BUNDLER_TOOLCHAIN = `esbuild-${esbuildVersion}+bundle-${BUNDLER_VERSION}`;

/** `import`/`export` statements at the start of a line: an ES module (not `import(` or `import.meta`). */
const ES_MODULE = /^[ \t]*(?:import[ \t]*(?:[\w$*{]|["'])|export[ \t]+(?:default|const|let|var|function|async|class|\{|\*)|export[ \t]*\{)/m;

export function isEsModule(source: string): boolean {
  return ES_MODULE.test(source);
}

/** A body script (`return ...`) becomes a module exporting it as a one-argument handler. */
const BODY_OPENING = 'module.exports = async function handler(event) { var params = event.params, context = event.context;\n';

export interface BundleInput {
  readonly source: string;
  readonly typescript: boolean;
  /** The declared dependencies, as the store has them. */
  readonly packages: readonly StoredPackage[];
  /** The store's folder (esbuild works there; the script is `<root>/script.js`) and its node_modules (a real path), if there are packages. */
  readonly storeRoot: string;
  readonly modulesDir: string | undefined;
  readonly maxBytes: number;
}

/** A bundle: its code (what the runtime runs), and its source map with what mapping needs (source-map.ts). */
export interface Bundle extends BundleMap {
  readonly code: string;
}

export type BundleResult = { readonly ok: true; readonly bundle: Bundle } | { readonly ok: false; readonly error: CompileFailure };

/** The file name esbuild and the errors give the script. */
function scriptFile(typescript: boolean): string {
  return typescript ? 'script.ts' : 'script.js';
}

const INTERNAL = Symbol('lambda-resolve');
const available = new Set<string>(NODE_BUILTINS);
const unavailable = new Set<string>(UNAVAILABLE_BUILTINS);

/** `node:fs` → `fs`, if it names a Node.js built-in. */
function builtin(specifier: string): string | undefined {
  const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  return available.has(name) || unavailable.has(name) || specifier.startsWith('node:') ? name : undefined;
}

/** The package a file of the store belongs to (`…/node_modules/@s/p/lib/x.js` → `@s/p`). */
function packageOfFile(path: string): string {
  const at = path.lastIndexOf('/node_modules/');
  return packageOfSpecifier(at === -1 ? path : path.slice(at + '/node_modules/'.length));
}

function sandboxResolver(input: BundleInput, scriptPath: string): Plugin {
  const declared = new Set(input.packages.map((p) => p.name));
  const modules = input.modulesDir;
  const list = [...declared].join(', ') || 'none';
  const confined = async (path: string): Promise<boolean> => modules !== undefined && isInside(await realpath(path).catch(() => ''), modules);
  return {
    name: 'lambda-sandbox',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === INTERNAL) return undefined;
        const fromScript = args.importer === scriptPath;
        const name = builtin(args.path);
        if (name !== undefined) {
          if (available.has(name)) return { path: name, external: true };
          if (fromScript) return { errors: [{ text: `the Node.js module "${name}" is not available in the sandbox (no file system, network or processes); available: ${NODE_BUILTINS.join(', ')}` }] };
          // A package may require it on a path the script never takes: it fails only if it runs.
          return { path: `${name}|${packageOfFile(args.importer)}`, external: true };
        }
        let resolveDir = args.resolveDir;
        if (fromScript) {
          if (/^[./]|^[a-z][a-z0-9+.-]*:/i.test(args.path)) {
            return { errors: [{ text: `a script is one file: it imports Node.js built-ins and the packages it declares in "dependencies", not ${JSON.stringify(args.path)}` }] };
          }
          if (args.path.split('/').some((part) => part === '..' || part === '.' || part === '')) {
            return { errors: [{ text: `${JSON.stringify(args.path)}: an import names a package and a file in it, without "." or ".." parts` }] };
          }
          const pkg = packageOfSpecifier(args.path);
          const problem = packageNameProblem(pkg);
          if (problem) return { errors: [{ text: problem }] };
          if (!declared.has(pkg)) return { errors: [{ text: `the package ${pkg} is not declared in "dependencies" (declared: ${list})` }] };
          resolveDir = modules ?? resolveDir;
        }
        const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir, importer: args.importer, pluginData: INTERNAL });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        if (resolved.external) return { errors: [{ text: `${JSON.stringify(args.path)} cannot be bundled` }] };
        if (extname(resolved.path) === '.node') return { errors: [{ text: `the package ${packageOfFile(resolved.path)} loads a native addon (${JSON.stringify(args.path)}), which cannot run in the sandbox` }] };
        if (!(await confined(resolved.path))) return { errors: [{ text: `${JSON.stringify(args.path)} resolves outside the package store` }] };
        return { path: resolved.path, sideEffects: resolved.sideEffects };
      });
      // Whatever was resolved, nothing outside the store is read.
      b.onLoad({ filter: /.*/ }, async (args) => {
        if (args.namespace !== 'file' || !(await confined(args.path))) return { errors: [{ text: `${JSON.stringify(args.path)} is outside the package store` }] };
        return undefined;
      });
    },
  };
}

/** Builds the bundle of a script: its code, or a CompileFailure in the script's own lines and columns. */
export async function bundleScript(input: BundleInput): Promise<BundleResult> {
  const { source, typescript } = input;
  const esm = isEsModule(source);
  const body = !esm && detectForm(source) === 'body';
  const contents = body ? `${BODY_OPENING}${source}\n};\n` : source;
  const file = scriptFile(typescript);
  let code = '';
  let map = '';
  try {
    const result = await build({
      stdin: { contents, loader: typescript ? 'ts' : 'js', sourcefile: file, resolveDir: input.storeRoot },
      absWorkingDir: input.storeRoot,
      bundle: true,
      write: false,
      // Nothing is written: the name places the map's sources (`script.ts`, `node_modules/...`).
      outfile: join(input.storeRoot, 'bundle.js'),
      sourcemap: 'external',
      sourcesContent: false,
      format: 'cjs',
      platform: 'node',
      target: 'es2023',
      plugins: [sandboxResolver(input, join(input.storeRoot, file))],
      // A package's `process` is the sandbox's (platform/process.js), never a global.
      define: { 'process.env.NODE_ENV': '"production"', process: '__lambdaProcess', global: 'globalThis' },
      banner: { js: 'var __lambdaProcess = require("process");' },
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
    });
    for (const output of result.outputFiles) {
      if (output.path.endsWith('.map')) map = output.text;
      else code = output.text;
    }
  } catch (error) {
    return { ok: false, error: failureOf(error, source, body ? 1 : 0, file) };
  }
  const bytes = Buffer.byteLength(code);
  if (bytes > input.maxBytes) {
    return { ok: false, error: { kind: 'BundleTooLarge', message: `the bundle of the script and its dependencies is ${bytes} bytes, over the limit of ${input.maxBytes} (NODEJS_MAX_BUNDLE_BYTES)` } };
  }
  return { ok: true, bundle: { code, map, file, lineShift: body ? 1 : 0 } };
}

/** esbuild's first error, where it is in the script, in the script's coordinates. */
function failureOf(error: unknown, source: string, lineShift: number, file: string): CompileFailure {
  const messages: Message[] = (error as Partial<BuildFailure>).errors ?? [];
  const first = messages[0];
  if (!first) return { kind: 'BundleError', message: errorMessage(error) };
  const kind = first.pluginName !== '' || first.text.startsWith('Could not resolve') ? 'ImportError' : 'SyntaxError';
  const location = first.location;
  if (!location || location.file !== file) {
    const where = location ? ` (in ${location.file}:${location.line})` : '';
    return { kind, message: `${first.text}${where}`, diagnostics: `${kind}: ${first.text}${where}` };
  }
  // esbuild counts columns in UTF-8 bytes from 0; the user counts characters from 1.
  const column = Buffer.from(location.lineText, 'utf8').subarray(0, location.column).toString('utf8').length + 1;
  const lines = source.split(/\r\n|\r|\n/);
  const line = Math.max(1, location.line - lineShift);
  // Past the script's last line is the body's wrapper: the script ended too early.
  if (line > lines.length) return describeCompileFailure({ name: kind, message: 'Unexpected end of input', line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 }, lines, file);
  return describeCompileFailure({ name: kind, message: first.text, line, column }, lines, file);
}
