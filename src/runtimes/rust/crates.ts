/**
 * The crates a Rust script may use (crates.json: serde with derive, serde_json, regex, chrono,
 * base64, sha2, hex, rand, itertools, uuid), built once per toolchain for wasm32-wasi with Debian's
 * cargo from Debian's crate sources (`/usr/share/cargo/registry`; nothing is downloaded) into a
 * directory of the cache dir, and offered to every compile with `--extern`. serde_derive is built
 * for the host: rustc loads it inside the compile sandbox.
 *
 * Debian's getrandom leaves out its dependency on the `wasi` crate (not packaged), so the build
 * patches in a copy of Debian's getrandom that depends on a `wasi` of a few lines: the one import
 * getrandom calls, `wasi_snapshot_preview1.random_get`, which the worker answers from node:crypto.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chmod, copyFile, cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { projectPath } from '../../config/paths.js';
import type { Logger } from '../../observability/logger.js';
import { runProcess } from './process.js';
import type { RustToolchainPaths } from './rust-toolchain.js';

export const WASI_TARGET = 'wasm32-wasi';
const BUILD_TIMEOUT_MS = 900_000;
/** Bytes of cargo's output kept (each stream): its errors are at the end. */
const BUILD_OUTPUT_BYTES = 8 * 1024 * 1024;

interface CrateSpec {
  readonly name: string;
  readonly debian: readonly string[];
  readonly features?: readonly string[];
  readonly defaultFeatures?: boolean;
}

interface CrateSetFile {
  readonly layout: number;
  readonly crates: readonly CrateSpec[];
  readonly support: readonly string[];
}

/** crates.json, read once (it is part of the source tree, beside entry.rs). */
export const CRATE_SET: CrateSetFile = JSON.parse(readFileSync(projectPath('src', 'runtimes', 'rust', 'crates.json'), 'utf8')) as CrateSetFile;

/** The names scripts may `use`, in crates.json's order. */
export const CRATE_NAMES: readonly string[] = CRATE_SET.crates.map((crate) => crate.name);

/** Every Debian package the crate set needs. */
export const CRATE_DEBIAN_PACKAGES: readonly string[] = [...new Set([...CRATE_SET.crates.flatMap((crate) => crate.debian), ...CRATE_SET.support])];

export interface CrateVersion {
  readonly name: string;
  readonly version: string;
}

/** The newest `name-x.y.z` in Debian's crate folder. */
function newestVersion(registryDir: string, name: string): string | undefined {
  const pattern = new RegExp(`^${name.replaceAll('_', '[_-]')}-(\\d+\\.\\d+\\.\\d+)$`);
  return readdirSync(registryDir)
    .map((entry) => pattern.exec(entry)?.[1])
    .filter((version): version is string => version !== undefined)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .at(-1);
}

/** The version of every crate of the set in Debian's folder; throws naming the packages that are missing. */
export function crateVersions(registryDir: string): CrateVersion[] {
  const found = existsSync(registryDir) ? CRATE_SET.crates.map((crate) => ({ crate, version: newestVersion(registryDir, crate.name) })) : [];
  const missing = existsSync(registryDir) ? found.filter((entry) => entry.version === undefined).map((entry) => entry.crate) : CRATE_SET.crates;
  if (missing.length > 0) {
    const packages = missing.flatMap((crate) => crate.debian).join(' ');
    throw new Error(`the crate sources of ${missing.map((crate) => crate.name).join(', ')} are not in ${registryDir}; install the Debian packages ${packages} (\`npm run setup\` does)`);
  }
  return found.map(({ crate, version }) => ({ name: crate.name, version: version as string }));
}

export interface CrateBuild {
  /** Holds the rlibs for wasm32-wasi and the host's proc-macro libraries; the sandbox sees it as /deps. */
  readonly dir: string;
  /** Each crate of the set and its library's file name in `dir`. */
  readonly externs: Readonly<Record<string, string>>;
}

/** A cargo `compiler-artifact` message, as far as it is read here. */
interface Artifact {
  readonly reason?: string;
  readonly package_id?: string;
  readonly target?: { readonly name?: string; readonly kind?: readonly string[] };
  readonly filenames?: readonly string[];
}

const manifestToml = (versions: readonly CrateVersion[]): string => {
  const lines = versions.map(({ name, version }) => {
    const spec = CRATE_SET.crates.find((crate) => crate.name === name);
    const features = spec?.features?.length ? `, features = ${JSON.stringify(spec.features)}` : '';
    const defaults = spec?.defaultFeatures === false ? ', default-features = false' : '';
    return `${name} = { version = "=${version}"${defaults}${features} }`;
  });
  return (
    `[package]\nname = "lambda_deps"\nversion = "0.0.0"\nedition = "2018"\n\n[lib]\npath = "src/lib.rs"\n\n[dependencies]\n${lines.join('\n')}\n\n` +
    `[patch.crates-io]\ngetrandom = { path = "patched/getrandom" }\n\n[profile.release]\nopt-level = 3\ndebug = false\n`
  );
};

/** The `wasi` crate getrandom's WASI backend calls: only its raw `random_get` import. */
const WASI_SHIM_TOML = '[package]\nname = "wasi"\nversion = "0.11.0+wasi-snapshot-preview1"\nedition = "2018"\n';
const WASI_SHIM_LIB =
  '#![no_std]\n//! The one WASI import getrandom needs (Debian packages no `wasi` crate).\npub mod wasi_snapshot_preview1 {\n' +
  '    #[link(wasm_import_module = "wasi_snapshot_preview1")]\n    extern "C" {\n        pub fn random_get(buf: i32, buf_len: i32) -> i32;\n    }\n}\n';

/** Debian's getrandom, with the dependency on `wasi` it lost put back (pointing at the shim). */
async function patchGetrandom(registryDir: string, build: string): Promise<void> {
  const version = newestVersion(registryDir, 'getrandom');
  if (!version) throw new Error(`getrandom's sources are not in ${registryDir}; install the Debian package librust-getrandom-dev`);
  const dir = join(build, 'patched', 'getrandom');
  await cp(join(registryDir, `getrandom-${version}`), dir, { recursive: true });
  await rm(join(dir, '.cargo-checksum.json'), { force: true });
  const toml = await readFile(join(dir, 'Cargo.toml'), 'utf8');
  if (!/dependencies\.wasi\]/.test(toml)) await appendFile(join(dir, 'Cargo.toml'), '\n[target."cfg(target_os = \\"wasi\\")".dependencies.wasi]\npath = "../wasi"\n');
  await mkdir(join(build, 'patched', 'wasi', 'src'), { recursive: true });
  await writeFile(join(build, 'patched', 'wasi', 'Cargo.toml'), WASI_SHIM_TOML);
  await writeFile(join(build, 'patched', 'wasi', 'src', 'lib.rs'), WASI_SHIM_LIB);
}

/** The build for this toolchain `id`: the one in the cache dir, else a new one (≈ 1–2 min on two cores). */
export async function ensureCrates(options: {
  readonly paths: Pick<RustToolchainPaths, 'cargo' | 'rustc' | 'registryDir'>;
  readonly cacheDir: string;
  readonly id: string;
  readonly versions: readonly CrateVersion[];
  readonly logger: Logger;
}): Promise<CrateBuild> {
  const dir = join(options.cacheDir, `crates-${options.id}`);
  const existing = await readManifest(dir);
  if (existing) return existing;

  await mkdir(options.cacheDir, { recursive: true });
  // The sandbox runs as uid 65534: it must be able to reach and read the libraries.
  await chmod(options.cacheDir, 0o755).catch(() => undefined);
  const started = performance.now();
  options.logger.info({ crates: options.versions.map(({ name, version }) => `${name}@${version}`) }, 'rust runtime: building the crate set for wasm32-wasi (once per toolchain)');
  const build = await mkdtemp(join(tmpdir(), 'lambda-crates-'));
  try {
    await mkdir(join(build, 'src'));
    await mkdir(join(build, '.cargo'));
    await writeFile(join(build, 'Cargo.toml'), manifestToml(options.versions));
    await writeFile(join(build, 'src', 'lib.rs'), options.versions.map(({ name }) => `pub use ${name};\n`).join(''));
    await patchGetrandom(options.paths.registryDir, build);
    // Debian's crate folder replaces crates.io: the build never touches the network.
    await writeFile(
      join(build, '.cargo', 'config.toml'),
      `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "${options.paths.registryDir}"\n[net]\noffline = true\n`,
    );
    const run = await runProcess(options.paths.cargo, ['build', '--release', '--offline', '--target', WASI_TARGET, '--message-format=json'], {
      cwd: build,
      env: { PATH: '/usr/bin:/bin', HOME: build, CARGO_HOME: join(build, 'cargo-home'), RUSTC: options.paths.rustc, CARGO_TARGET_DIR: join(build, 'target') },
      timeoutMs: BUILD_TIMEOUT_MS,
      maxOutputBytes: BUILD_OUTPUT_BYTES,
    });
    if (run.code !== 0) {
      const output = (run.spawnError?.message ?? run.stderr).trim().split('\n').slice(-15).join('\n');
      throw new Error(`building the crate set for ${WASI_TARGET} failed${run.timedOut ? ' (timed out)' : ''}: ${output}`);
    }
    const artifacts = run.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Artifact)
      .filter((message) => message.reason === 'compiler-artifact');
    const externs: Record<string, string> = {};
    for (const { name, version } of options.versions) {
      // The library the set's own crate (`name version (registry...)`) produced.
      const artifact = artifacts.find((a) => a.package_id?.startsWith(`${name} ${version} `) && a.target?.kind?.includes('lib'));
      const rlib = artifact?.filenames?.find((file) => file.endsWith('.rlib'));
      if (!rlib) throw new Error(`building the crate set produced no library for ${name} ${version}`);
      externs[name] = basename(rlib);
    }
    const wasmDeps = join(build, 'target', WASI_TARGET, 'release', 'deps');
    const hostDeps = join(build, 'target', 'release', 'deps');
    const staging = await mkdtemp(join(options.cacheDir, '.crates-build-'));
    // What a compile links (the wasm rlibs), and the proc macros rustc loads (host .so files).
    const files = [
      ...readdirSync(wasmDeps).filter((name) => name.endsWith('.rlib') && !name.startsWith('liblambda_deps')).map((name) => join(wasmDeps, name)),
      ...readdirSync(hostDeps).filter((name) => name.endsWith('.so')).map((name) => join(hostDeps, name)),
    ];
    for (const file of files) await copyFile(file, join(staging, basename(file)));
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify({ externs, versions: options.versions }, null, 2)}\n`);
    await chmod(staging, 0o755);
    // Another process (a replica, a test file) may finish the same build first: then theirs is used.
    await rename(staging, dir).catch(async (error: unknown) => {
      await rm(staging, { recursive: true, force: true });
      if (!(await readManifest(dir))) throw error;
    });
    const final = await readManifest(dir);
    if (!final) throw new Error(`the crate build in ${dir} has no manifest`);
    options.logger.info({ dir, ms: Math.round(performance.now() - started) }, 'rust runtime: crate set built for wasm32-wasi');
    return final;
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}

async function readManifest(dir: string): Promise<CrateBuild | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { externs?: unknown };
    const externs = manifest.externs;
    if (typeof externs !== 'object' || externs === null) return undefined;
    const entries = Object.entries(externs as Record<string, unknown>);
    const complete = CRATE_NAMES.every((name) => entries.some(([key, file]) => key === name && typeof file === 'string' && existsSync(join(dir, basename(file)))));
    return complete ? { dir, externs: Object.fromEntries(entries.map(([key, file]) => [key, basename(String(file))])) } : undefined;
  } catch {
    return undefined;
  }
}
