/**
 * serde_json for wasm32-wasi, built once per toolchain with Debian's cargo from Debian's crate
 * sources (`librust-serde-json-dev`; nothing is downloaded) into a directory of the cache dir, and
 * linked by every compile. `preserve_order` keeps the key order of objects.
 */
import { existsSync, readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import type { Logger } from '../../observability/logger.js';
import { runProcess } from './process.js';
import type { RustToolchainPaths } from './rust-toolchain.js';

export const WASI_TARGET = 'wasm32-wasi';
/** Bumped when the way serde_json is built changes, so that old builds are not reused. */
export const DEPS_LAYOUT = 'deps-v1-preserve_order';
const BUILD_TIMEOUT_MS = 300_000;
/** Bytes of cargo's output kept (each stream): its errors are at the end of a build's few lines. */
const BUILD_OUTPUT_BYTES = 1024 * 1024;

export interface SerdeJsonBuild {
  /** Holds the rlibs of serde_json and its dependencies. */
  readonly dir: string;
  /** serde_json's own rlib in `dir`. */
  readonly rlib: string;
}

/** The newest `serde_json-x.y.z` in Debian's crate folder. */
export function newestSerdeJson(registryDir: string): string | undefined {
  if (!existsSync(registryDir)) return undefined;
  return readdirSync(registryDir)
    .map((name) => /^serde_json-(\d+\.\d+\.\d+)$/.exec(name)?.[1])
    .filter((version): version is string => version !== undefined)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .at(-1);
}

/** The build for this toolchain `id`: the one in the cache dir, else a new one. */
export async function ensureSerdeJson(options: {
  readonly paths: Pick<RustToolchainPaths, 'cargo' | 'rustc' | 'registryDir'>;
  readonly cacheDir: string;
  readonly id: string;
  readonly version: string;
  readonly logger: Logger;
}): Promise<SerdeJsonBuild> {
  const dir = join(options.cacheDir, `serde_json-${options.version}-${options.id}`);
  const existing = await readManifest(dir);
  if (existing) return existing;

  await mkdir(options.cacheDir, { recursive: true });
  // The sandbox runs as uid 65534: it must be able to reach and read the rlibs.
  await chmod(options.cacheDir, 0o755).catch(() => undefined);
  const started = performance.now();
  const build = await mkdtemp(join(tmpdir(), 'lambda-serde-json-'));
  try {
    await mkdir(join(build, 'src'));
    await mkdir(join(build, '.cargo'));
    await writeFile(
      join(build, 'Cargo.toml'),
      `[package]\nname = "lambda_deps"\nversion = "0.0.0"\nedition = "2018"\n\n[lib]\npath = "src/lib.rs"\n\n[dependencies]\n` +
        `serde_json = { version = "=${options.version}", features = ["preserve_order"] }\n\n[profile.release]\nopt-level = 3\ndebug = false\n`,
    );
    await writeFile(join(build, 'src', 'lib.rs'), 'pub use serde_json;\n');
    // Debian's crate folder replaces crates.io: the build never touches the network.
    await writeFile(
      join(build, '.cargo', 'config.toml'),
      `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "${options.paths.registryDir}"\n[net]\noffline = true\n`,
    );
    const run = await runProcess(options.paths.cargo, ['build', '--release', '--offline', '--target', WASI_TARGET], {
      cwd: build,
      env: { PATH: '/usr/bin:/bin', HOME: build, CARGO_HOME: join(build, 'cargo-home'), RUSTC: options.paths.rustc, CARGO_TARGET_DIR: join(build, 'target') },
      timeoutMs: BUILD_TIMEOUT_MS,
      maxOutputBytes: BUILD_OUTPUT_BYTES,
    });
    if (run.code !== 0) {
      const output = (run.spawnError?.message ?? run.stderr).trim().split('\n').slice(-15).join('\n');
      throw new Error(`building serde_json for ${WASI_TARGET} failed${run.timedOut ? ' (timed out)' : ''}: ${output}`);
    }
    const built = join(build, 'target', WASI_TARGET, 'release', 'deps');
    const rlibs = (await readdir(built)).filter((name) => name.endsWith('.rlib') && !name.startsWith('liblambda_deps'));
    const serdeJson = rlibs.find((name) => name.startsWith('libserde_json-'));
    if (!serdeJson) throw new Error(`building serde_json produced no libserde_json rlib in ${built}`);
    const staging = await mkdtemp(join(options.cacheDir, '.serde_json-build-'));
    for (const rlib of rlibs) await copyFile(join(built, rlib), join(staging, rlib));
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify({ serdeJson, rlibs }, null, 2)}\n`);
    await chmod(staging, 0o755);
    // Another process (a replica, a test file) may finish the same build first: then theirs is used.
    await rename(staging, dir).catch(async (error: unknown) => {
      await rm(staging, { recursive: true, force: true });
      if (!(await readManifest(dir))) throw error;
    });
    const final = await readManifest(dir);
    if (!final) throw new Error(`serde_json build in ${dir} has no manifest`);
    options.logger.info({ dir, ms: Math.round(performance.now() - started) }, 'rust runtime: serde_json built for wasm32-wasi');
    return final;
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}

async function readManifest(dir: string): Promise<SerdeJsonBuild | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { serdeJson?: unknown; rlibs?: unknown };
    if (typeof manifest.serdeJson !== 'string' || !Array.isArray(manifest.rlibs)) return undefined;
    const rlib = basename(manifest.serdeJson);
    return existsSync(join(dir, rlib)) ? { dir, rlib } : undefined;
  } catch {
    return undefined;
  }
}
