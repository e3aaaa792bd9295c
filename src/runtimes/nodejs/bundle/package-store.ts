/**
 * The operator's npm package store (NODEJS_PACKAGES_DIR): an npm project whose `node_modules` holds
 * the packages scripts may declare in `dependencies`. Filled only by the operator command
 * (`npm run packages -- add NAME@VERSION`, src/main/packages-command.ts); read here, by the bundler and by
 * GET /api/v1/runtimes. A script names packages, never paths: every name is checked before it
 * touches the file system, and every path found is checked to stay inside the store.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import semver from 'semver';

/** npm's rules for a package name (lowercase, an optional scope, no path characters), at most 214 characters. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const MAX_NAME_LENGTH = 214;
const MAX_RANGE_LENGTH = 64;
/** Dependencies one script may declare. */
export const MAX_DEPENDENCIES = 64;

export interface StoredPackage {
  readonly name: string;
  readonly version: string;
  /** Its folder (real path) inside the store. */
  readonly dir: string;
}

export type Resolution = { readonly ok: true; readonly packages: readonly StoredPackage[] } | { readonly ok: false; readonly message: string };

/** Why `name` is not a package name a script may use, or undefined. */
export function packageNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return `package name ${JSON.stringify(name.slice(0, 80))} must be 1 to ${MAX_NAME_LENGTH} characters`;
  if (!PACKAGE_NAME.test(name) || name.includes('..')) {
    return `${JSON.stringify(name.slice(0, 80))} is not an npm package name (lowercase letters, digits, "-", ".", "_", "~", an optional @scope/; no paths)`;
  }
  return undefined;
}

/** The package a bare import names: `lodash/fp` → `lodash`, `@scope/pkg/x` → `@scope/pkg`. */
export function packageOfSpecifier(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
}

/** A `dependencies` object as a script gives it, checked: names and semver ranges. */
export function checkDependencies(value: unknown): { ok: true; dependencies: Readonly<Record<string, string>> } | { ok: false; message: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: '"dependencies" must be an object of package names and versions, e.g. {"lodash": "4.17.21"}' };
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_DEPENDENCIES) return { ok: false, message: `"dependencies" lists ${entries.length} packages; at most ${MAX_DEPENDENCIES}` };
  const dependencies: Record<string, string> = {};
  for (const [name, range] of entries) {
    const problem = packageNameProblem(name);
    if (problem) return { ok: false, message: problem };
    if (typeof range !== 'string' || range.length > MAX_RANGE_LENGTH || semver.validRange(range) === null) {
      return { ok: false, message: `the version of ${name} must be a semver version or range (e.g. "4.17.21", "^1"), got ${JSON.stringify(range)}` };
    }
    dependencies[name] = range;
  }
  return { ok: true, dependencies };
}

export class PackageStore {
  readonly root: string;
  readonly #modules: string;

  constructor(root: string) {
    this.root = root;
    this.#modules = join(root, 'node_modules');
  }

  /** Creates the store's folder if it is missing (esbuild works in it). */
  async ensure(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  /** The store's `node_modules`, as a real path (undefined: the store is empty or missing). */
  async modulesDir(): Promise<string | undefined> {
    return existsSync(this.#modules) ? realpath(this.#modules) : undefined;
  }

  /** The packages the operator added (the store's package.json `dependencies`), with their installed versions. */
  async list(): Promise<StoredPackage[]> {
    const manifest = await readJson(join(this.root, 'package.json'));
    const names = Object.keys((manifest?.dependencies as Record<string, unknown> | undefined) ?? {}).sort();
    const modules = await this.modulesDir();
    if (!modules) return [];
    const found = await Promise.all(names.map((name) => this.#installed(name, modules)));
    return found.flatMap((entry) => (entry ? [entry.installed] : []));
  }

  /** Each declared dependency as the store has it, or why one cannot be used. */
  async resolve(dependencies: Readonly<Record<string, string>>): Promise<Resolution> {
    const packages: StoredPackage[] = [];
    const modules = await this.modulesDir();
    for (const [name, range] of Object.entries(dependencies).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const problem = packageNameProblem(name);
      if (problem) return { ok: false, message: problem };
      const found = modules === undefined ? undefined : await this.#installed(name, modules);
      if (!found) return { ok: false, message: `the package ${name} is not in the package store (the operator adds it: npm run packages -- add ${name}@${range})` };
      const { installed, manifest } = found;
      if (!semver.satisfies(installed.version, range)) {
        return { ok: false, message: `the package store has ${name}@${installed.version}, which does not satisfy ${JSON.stringify(range)}` };
      }
      const native = await nativeAddon(installed.dir, manifest);
      if (native) return { ok: false, message: `the package ${name} has a native addon (${native}), which cannot run in the sandbox` };
      packages.push(installed);
    }
    return { ok: true, packages };
  }

  /** A package at the top of the store's node_modules (`modules`, a real path), if it is there and inside the store; with its package.json. */
  async #installed(name: string, modules: string): Promise<{ installed: StoredPackage; manifest: Record<string, unknown> } | undefined> {
    if (packageNameProblem(name)) return undefined;
    let dir: string;
    try {
      dir = await realpath(join(modules, name));
    } catch {
      return undefined;
    }
    if (!isInside(dir, modules)) return undefined;
    const manifest = await readJson(join(dir, 'package.json'));
    const version = manifest?.version;
    if (!manifest || typeof version !== 'string' || !semver.valid(version)) return undefined;
    return { installed: { name, version, dir }, manifest };
  }
}

/** Whether `path` (a real path) is `dir` or below it. */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** What marks a package as a native addon (built with node-gyp), or undefined; `manifest`, its package.json if read already. */
export async function nativeAddon(dir: string, known?: Record<string, unknown>): Promise<string | undefined> {
  if (existsSync(join(dir, 'binding.gyp'))) return 'binding.gyp';
  const manifest = known ?? (await readJson(join(dir, 'package.json')));
  if (manifest?.gypfile === true) return '"gypfile": true';
  return undefined;
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
