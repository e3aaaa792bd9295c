/**
 * Debian's Rust toolchain for WebAssembly, and the sandbox every user compile runs in.
 *
 * - `rustc` (Debian's 1.63) with `libstd-rust-dev-wasm32` compiles `--target wasm32-wasi`, linked by
 *   `rust-lld`, against the crate set built once per toolchain (`crates.ts`, `crates.json`).
 * - A compile runs `rustc` under bubblewrap as uid/gid 65534 with every namespace unshared (no
 *   network), an empty environment, rlimits (address space, CPU, file size, open files, no core), and a
 *   file system that holds only: rustc and rust-lld with the shared libraries they load, the
 *   wasm32-wasi standard library, the crate set's libraries (`/deps`), the compile's own work dir
 *   (`/work`), a tmpfs `/tmp`, a minimal `/dev`, and a `/proc` with only the `self/exe` link rustc
 *   needs. So `include_str!`/`include_bytes!`/`#[path]` reach no host file or fact, `env!` sees only
 *   PATH. The only proc macros are the set's own (serde_derive), loaded by rustc inside that same
 *   sandbox: a script cannot bring one (a binary crate defines none, and only the set's crates are
 *   `--extern`), and what they run can read no more than rustc can.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Config } from '../../config/config.js';
import type { Logger } from '../../observability/logger.js';
import type { CompileFailure } from '../runtime.js';
import { isRoot, reachableByOthers, SANDBOX_UID } from '../../sandbox/host.js';
import { dropRootPrefix, isolationArgs } from '../../sandbox/bubblewrap.js';
import { runProcess } from './process.js';
import { cleanText, describeCompileErrors } from './rustc-diagnostics.js';
import { CRATE_NAMES, CRATE_SET, crateVersions, ensureCrates, WASI_TARGET, type CrateVersion } from './crates.js';

/** Where Debian puts the toolchain; `registryDir` holds Debian's crate sources, cargo's only registry. */
export const DEFAULT_PATHS = { rustc: '/usr/bin/rustc', cargo: '/usr/bin/cargo', bwrap: '/usr/bin/bwrap', prlimit: '/usr/bin/prlimit', setpriv: '/usr/bin/setpriv', registryDir: '/usr/share/cargo/registry' };
export type RustToolchainPaths = Readonly<typeof DEFAULT_PATHS>;

/** What opening the toolchain needs: the `rust` settings it reads, and where its binaries are when not in Debian's places (tests). */
export type RustToolchainOptions = Pick<Config['rust'], 'toolchainDir' | 'compileMemoryLimitMb'> & { readonly logger: Logger; readonly toolchainPaths?: Partial<RustToolchainPaths> };

/** What a missing piece is called in Debian, for the operator. */
const DEBIAN_PACKAGES = 'rustc cargo libstd-rust-dev-wasm32 lld-14 bubblewrap (`npm run setup` installs them)';
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const MAX_DIAGNOSTICS_BYTES = 2 * 1024 * 1024;

export type OptimizationLevel = 'debug' | 'release';

export interface RustCompileRequest {
  /** The complete crate root: the user's script followed by the entry point. */
  readonly source: string;
  readonly optimizationLevel: OptimizationLevel;
  /** Lines of the user's script at the top of `source`: errors below them are in the entry point. */
  readonly userLines: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export type RustCompileOutcome =
  | { readonly ok: true; readonly wasm: Uint8Array; readonly durationMs: number }
  | { readonly ok: false; readonly error: CompileFailure };

export interface RustToolchain {
  /** Names everything a compiled module depends on: part of every cache key, and kept with every stored module. */
  readonly id: string;
  /** The crates scripts may use, with their versions. */
  readonly crates: readonly CrateVersion[];
  /** Compiles one crate root in the sandbox. A failure of the user's code is `ok: false`; of the toolchain or the sandbox, a throw. */
  compile(request: RustCompileRequest): Promise<RustCompileOutcome>;
}

/** rustc's flags for every compile: the crate root is `/work/script.rs`, the module `/work/out/script.wasm`. */
const RUSTC_FLAGS = ['--edition', '2021', '--crate-type', 'bin', '--crate-name', 'script', '--target', WASI_TARGET, '--error-format', 'json', '-C', 'strip=symbols', '-C', 'debuginfo=0', '-L', 'dependency=/deps', '-o', 'out/script.wasm'];
const DEBUG_FLAGS = ['-C', 'opt-level=0', '-C', 'debug-assertions=on', '-C', 'overflow-checks=on'];

async function output(command: string, args: readonly string[]): Promise<string> {
  const run = await runProcess(command, args, { env: { PATH: '/usr/bin:/bin' }, timeoutMs: 30_000, maxOutputBytes: MAX_DIAGNOSTICS_BYTES });
  if (run.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${(run.spawnError?.message ?? run.stderr).trim()}`);
  return run.stdout;
}

/**
 * Finds the toolchain, builds the crate set unless this toolchain's build is in `toolchainDir`, and works
 * out the sandbox. Throws naming what is missing.
 */
export async function openRustToolchain(options: RustToolchainOptions): Promise<RustToolchain> {
  const paths = { ...DEFAULT_PATHS, ...options.toolchainPaths };
  for (const [name, path] of Object.entries({ rustc: paths.rustc, cargo: paths.cargo, bubblewrap: paths.bwrap, prlimit: paths.prlimit })) {
    if (!existsSync(path)) throw new Error(`${name} not found at ${path}; install the Debian packages ${DEBIAN_PACKAGES}`);
  }
  const version = await output(paths.rustc, ['-vV']);
  const release = /^release:\s*(\S+)/m.exec(version)?.[1] ?? 'unknown';
  const sysroot = (await output(paths.rustc, ['--print', 'sysroot'])).trim() || '/usr';
  const targetDir = join(sysroot, 'lib', 'rustlib', WASI_TARGET);
  const targetLibs = join(targetDir, 'lib');
  if (!existsSync(targetLibs) || !readdirSync(targetLibs).some((name) => name.startsWith('libstd-') && name.endsWith('.rlib'))) {
    throw new Error(`the ${WASI_TARGET} standard library is missing under ${targetLibs}; install the Debian package libstd-rust-dev-wasm32`);
  }
  const lld = join(sysroot, 'bin', 'rust-lld');
  // /usr/bin/rust-lld (from rustc) links to lld-14, which Debian only recommends.
  if (!existsSync(lld)) throw new Error(`the WebAssembly linker ${lld} is missing; install the Debian package lld-14`);
  const crates = crateVersions(paths.registryDir);

  const hash = createHash('sha256').update(version).update('\0').update(JSON.stringify(CRATE_SET)).update('\0').update(JSON.stringify(crates)).digest('hex').slice(0, 24);
  const deps = await ensureCrates({ cacheDir: options.toolchainDir, paths, id: hash, versions: crates, logger: options.logger });
  const externs = CRATE_NAMES.flatMap((name) => ['--extern', `${name}=/deps/${deps.externs[name] ?? ''}`]);

  const rustcReal = realpathSync(paths.rustc);
  const lldReal = realpathSync(lld);
  const libraries = new Set<string>();
  for (const binary of [rustcReal, lldReal]) {
    for (const match of (await output('/usr/bin/ldd', [binary])).matchAll(/(\/\S+)/g)) if (match[1] && existsSync(match[1])) libraries.add(match[1]);
  }
  const asRoot = isRoot();
  const unreachable = [deps.dir, tmpdir()].find((dir) => !reachableByOthers(dir, { readable: true }));
  if (asRoot && unreachable !== undefined) {
    const why = 'so the compile sandbox runs as a root-mapped uid (still without capabilities, network or host files); make its parents world-traversable to drop root on the host too';
    options.logger.warn({ dir: unreachable }, `rust runtime: uid 65534 cannot reach this directory, ${why}`);
  }
  const dropRoot = asRoot && existsSync(paths.setpriv) && unreachable === undefined;
  const launch = [
    // As root, drop to uid 65534 on the host before the sandbox is built, so that the user
    // namespace maps the sandbox's uid to an unprivileged host uid rather than to root.
    ...dropRootPrefix(paths.setpriv, dropRoot),
    paths.bwrap,
    // rustc builds no sandbox of its own, but its flags stay as they were: user namespaces not disabled.
    ...isolationArgs({ nestedSandboxes: true, asPid1: false }),
    '--ro-bind', rustcReal, join(sysroot, 'bin', 'rustc'),
    '--ro-bind', lldReal, lld,
    '--ro-bind', targetDir, targetDir,
    // The Debian loader and libraries as the sandbox sees them: merged-/usr paths.
    ...[...libraries].sort().flatMap((library) => ['--ro-bind', realpathSync(library), /^\/lib(64)?\//.test(library) ? `/usr${library}` : library]),
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--ro-bind', deps.dir, '/deps',
    '--tmpfs', '/tmp',
    '--dev', '/dev',
    // rustc finds its sysroot through /proc/self/exe, and needs nothing else of /proc. A real
    // /proc (even the sandbox's own) tells host facts to include_str!: the kernel's command line,
    // /proc/sys, and in /proc/self/mountinfo the host paths of every bind (DATA_DIR, the project).
    // So /proc is a read-only tmpfs holding that one link.
    '--tmpfs', '/proc',
    '--dir', '/proc/self',
    '--symlink', join(sysroot, 'bin', 'rustc'), '/proc/self/exe',
    '--remount-ro', '/proc',
    '--setenv', 'PATH', join(sysroot, 'bin'),
    '--setenv', 'TMPDIR', '/tmp',
  ];

  const compile = async (request: RustCompileRequest): Promise<RustCompileOutcome> => {
    const work = await mkdtemp(join(tmpdir(), 'lambda-rustc-'));
    try {
      await mkdir(join(work, 'out'));
      await writeFile(join(work, 'script.rs'), request.source);
      // As root, the compile runs as uid 65534 on the host too: the work dir is handed to it.
      if (dropRoot) for (const dir of [work, join(work, 'out')]) await chown(dir, SANDBOX_UID, SANDBOX_UID);
      // prlimit's arguments: the limits, then the sandbox, then rustc.
      const args = [
        `--as=${options.compileMemoryLimitMb * 1024 * 1024}`, `--fsize=${MAX_FILE_BYTES}`, '--nofile=256', '--core=0', `--cpu=${Math.ceil(request.timeoutMs / 1000) + 1}`, '--',
        ...launch, '--bind', work, '/work', '--chdir', '/work',
        paths.rustc, ...RUSTC_FLAGS, ...(request.optimizationLevel === 'release' ? ['-C', 'opt-level=3'] : DEBUG_FLAGS), ...externs, 'script.rs',
      ];
      // An empty environment: bubblewrap's own (visible as /proc/1/environ inside) holds nothing.
      const run = await runProcess(paths.prlimit, args, { env: {}, timeoutMs: request.timeoutMs, maxOutputBytes: MAX_DIAGNOSTICS_BYTES, signal: request.signal });
      if (run.timedOut) {
        return { ok: false, error: { kind: 'CompileTimeout', message: `compilation did not finish within ${Math.round(request.timeoutMs / 1000)} s (WASM_COMPILE_TIMEOUT_SECONDS)` } };
      }
      if (run.aborted) throw new Error('compilation aborted');
      if (run.spawnError) throw new Error(`could not start the compiler sandbox: ${run.spawnError.message}`);
      if (run.code === 0) {
        const wasm = await readFile(join(work, 'out', 'script.wasm'));
        return { ok: true, wasm: new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength), durationMs: run.durationMs };
      }
      const error = describeCompileErrors(run.stderr, request.userLines, CRATE_NAMES);
      if (error) return { ok: false, error };
      // rustc reported nothing: the sandbox or a limit stopped it.
      const reason = run.signal ? `killed by ${run.signal}` : `exit code ${run.code}`;
      if (run.signal === 'SIGKILL' || run.signal === 'SIGXCPU' || /memory allocation|out of memory|Cannot allocate/i.test(run.stderr)) {
        return { ok: false, error: { kind: 'CompileLimit', message: `the compiler hit a resource limit (${reason})`, diagnostics: cleanText(run.stderr) } };
      }
      options.logger.error({ code: run.code, signal: run.signal, stderr: run.stderr.slice(0, 4000) }, 'rust runtime: rustc failed without diagnostics');
      throw new Error(`rustc failed without diagnostics (${reason}): ${run.stderr.trim().slice(0, 500)}`);
    } finally {
      await rm(work, { recursive: true, force: true }).catch((error: unknown) => options.logger.warn({ err: error, work }, 'rust runtime: could not remove a compile dir'));
    }
  };
  return { id: `rustc-${release}+crates-${CRATE_SET.layout}+${hash}`, crates, compile };
}
