/**
 * Debian's Rust toolchain for WebAssembly, and the sandbox every user compile runs in.
 *
 * - `rustc` (Debian's 1.63) with `libstd-rust-dev-wasm32` compiles `--target wasm32-wasi`, linked by
 *   `rust-lld`; nothing is downloaded, ever.
 * - `serde_json` (with `preserve_order`, so objects keep their key order) is built once from Debian's
 *   crate sources (`librust-serde-json-dev`) with Debian's `cargo` into a directory under the cache
 *   dir named after the toolchain, and every compile links its rlibs.
 * - A user compile runs `rustc` under bubblewrap as uid/gid 65534 with every namespace unshared (no
 *   network), a clean environment, rlimits (address space, CPU, file size, open files, no core), and a
 *   file system that holds only: rustc and rust-lld with the shared libraries they load, the
 *   wasm32-wasi standard library, the prebuilt serde_json rlibs (`/deps`), the compile's own work
 *   dir (`/work`), a tmpfs `/tmp`, a minimal `/dev`, and a `/proc` that holds only the `self/exe` link
 *   rustc needs (so no host fact, mount path or hostname reaches `include_str!`). There is no `/etc`,
 *   no home, no project tree: `include_str!`/`include_bytes!`/`#[path]` can reach nothing else, and
 *   `env!` sees only PATH. `--extern` names serde_json alone and no host proc-macro library is
 *   visible, so no compiler plugin or proc macro can run.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import type { Logger } from '../../observability/logger.js';
import type { CompileFailure } from '../runtime.js';
import { reachableByOthers, SANDBOX_UID } from '../../sandbox/host.js';
import { dropRootPrefix, isolationArgs } from '../../sandbox/bubblewrap.js';
import { runProcess } from './process.js';

export interface RustToolchainPaths {
  readonly rustc: string;
  readonly cargo: string;
  readonly bwrap: string;
  readonly prlimit: string;
  readonly setpriv: string;
  /** Debian's crate sources, used as cargo's only registry. */
  readonly registryDir: string;
}

export const DEFAULT_TOOLCHAIN_PATHS: RustToolchainPaths = {
  rustc: '/usr/bin/rustc',
  cargo: '/usr/bin/cargo',
  bwrap: '/usr/bin/bwrap',
  prlimit: '/usr/bin/prlimit',
  setpriv: '/usr/bin/setpriv',
  registryDir: '/usr/share/cargo/registry',
};

/** What a missing piece is called in Debian, for the operator. */
const DEBIAN_PACKAGES = 'rustc cargo libstd-rust-dev-wasm32 librust-serde-json-dev lld-14 bubblewrap (`npm run setup` installs them)';

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
  | { readonly ok: false; readonly error: CompileFailure; readonly durationMs: number };

export interface RustToolchainOptions {
  readonly logger: Logger;
  /** Where the prebuilt serde_json lives (one subdirectory per toolchain version). */
  readonly cacheDir: string;
  readonly paths?: Partial<RustToolchainPaths>;
  /** Address-space limit of one compile, in MiB (default 2048; rustc with LLVM needs well over 1 GiB of address space). */
  readonly compileMemoryLimitMb?: number;
  /** Largest file a compile may write, in MiB (default 64). */
  readonly compileMaxFileMb?: number;
  /** Time allowed to build serde_json once (default 300 s). */
  readonly depsBuildTimeoutMs?: number;
}

/** The toolchain could not be found or does not work; `reason` names what is missing. */
export class ToolchainUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ToolchainUnavailableError';
  }
}

interface DepsManifest {
  readonly serdeJson: string;
  readonly rlibs: readonly string[];
}

const TARGET = 'wasm32-wasi';
/** Bumped when the way serde_json is built changes, so that old builds are not reused. */
const DEPS_LAYOUT = 'deps-v1-preserve_order';

function versionKey(version: string): number[] {
  return version.split('.').map((part) => Number.parseInt(part, 10) || 0);
}

function compareVersions(a: string, b: string): number {
  const left = versionKey(a);
  const right = versionKey(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The Debian loader and libraries as the sandbox sees them: merged-/usr paths. */
function sandboxPathOf(path: string): string {
  if (path.startsWith('/lib64/') || path.startsWith('/lib/')) return `/usr${path}`;
  return path;
}

export class RustToolchain {
  readonly #logger: Logger;
  readonly #paths: RustToolchainPaths;
  readonly #memoryLimitBytes: number;
  readonly #maxFileBytes: number;
  readonly #sandboxArgs: readonly string[];
  readonly #depsDir: string;
  readonly #serdeJsonRlib: string;
  readonly #asRoot: boolean;
  /** As root: also drop to uid 65534 on the host (possible when it can reach the rlibs and work dirs). */
  readonly #dropRoot: boolean;
  /** Identifies everything a compiled module depends on; part of every cache key. */
  readonly id: string;
  readonly rustcVersion: string;
  readonly serdeJsonVersion: string;

  private constructor(init: {
    logger: Logger;
    paths: RustToolchainPaths;
    memoryLimitBytes: number;
    maxFileBytes: number;
    sandboxArgs: readonly string[];
    depsDir: string;
    serdeJsonRlib: string;
    rustcVersion: string;
    serdeJsonVersion: string;
    id: string;
  }) {
    this.#logger = init.logger;
    this.#paths = init.paths;
    this.#memoryLimitBytes = init.memoryLimitBytes;
    this.#maxFileBytes = init.maxFileBytes;
    this.#sandboxArgs = init.sandboxArgs;
    this.#depsDir = init.depsDir;
    this.#serdeJsonRlib = init.serdeJsonRlib;
    this.rustcVersion = init.rustcVersion;
    this.serdeJsonVersion = init.serdeJsonVersion;
    this.id = init.id;
    this.#asRoot = process.getuid?.() === 0;
    const unreachable = [init.depsDir, tmpdir()].find((dir) => !reachableByOthers(dir, { readable: true }));
    this.#dropRoot = this.#asRoot && existsSync(init.paths.setpriv) && unreachable === undefined;
    if (this.#asRoot && unreachable !== undefined) {
      init.logger.warn(
        { dir: unreachable },
        'rust runtime: uid 65534 cannot reach this directory, so the compile sandbox runs as a root-mapped uid (still without capabilities, network or host files); make its parents world-traversable to drop root on the host too',
      );
    }
  }

  /**
   * Finds the toolchain, builds serde_json for wasm32-wasi unless a build for this toolchain is
   * already in the cache dir, and works out the sandbox. Throws ToolchainUnavailableError naming
   * what is missing.
   */
  static async open(options: RustToolchainOptions): Promise<RustToolchain> {
    const paths = { ...DEFAULT_TOOLCHAIN_PATHS, ...options.paths };
    const logger = options.logger;
    for (const [name, path] of [
      ['rustc', paths.rustc],
      ['cargo', paths.cargo],
      ['bubblewrap', paths.bwrap],
      ['prlimit', paths.prlimit],
    ] as const) {
      if (!existsSync(path)) throw new ToolchainUnavailableError(`${name} not found at ${path}; install the Debian packages ${DEBIAN_PACKAGES}`);
    }
    const env = { PATH: '/usr/bin:/bin' };
    const versionRun = await runProcess(paths.rustc, ['-vV'], { env, timeoutMs: 30_000 });
    if (versionRun.code !== 0) throw new ToolchainUnavailableError(`${paths.rustc} -vV failed: ${(versionRun.spawnError?.message ?? versionRun.stderr).trim()}`);
    const release = /^release:\s*(\S+)/m.exec(versionRun.stdout)?.[1] ?? 'unknown';
    const sysrootRun = await runProcess(paths.rustc, ['--print', 'sysroot'], { env, timeoutMs: 30_000 });
    const sysroot = sysrootRun.stdout.trim() || '/usr';
    const targetDir = join(sysroot, 'lib', 'rustlib', TARGET);
    const targetLibs = join(targetDir, 'lib');
    if (!existsSync(targetLibs) || !readdirSync(targetLibs).some((name) => name.startsWith('libstd-') && name.endsWith('.rlib'))) {
      throw new ToolchainUnavailableError(`the ${TARGET} standard library is missing under ${targetLibs}; install the Debian package libstd-rust-dev-wasm32`);
    }
    const lld = join(sysroot, 'bin', 'rust-lld');
    // /usr/bin/rust-lld (from rustc) links to lld-14, which Debian only recommends.
    if (!existsSync(lld)) throw new ToolchainUnavailableError(`the WebAssembly linker ${lld} is missing; install the Debian package lld-14`);
    const serdeJsonVersion = RustToolchain.#findCrate(paths.registryDir, 'serde_json');
    if (!serdeJsonVersion) {
      throw new ToolchainUnavailableError(`serde_json sources not found in ${paths.registryDir}; install the Debian package librust-serde-json-dev`);
    }

    const id = createHash('sha256').update(versionRun.stdout).update('\0').update(serdeJsonVersion).update('\0').update(DEPS_LAYOUT).digest('hex').slice(0, 24);
    const deps = await RustToolchain.#ensureDeps({ ...options, paths, id, serdeJsonVersion, logger });

    const rustcReal = realpathSync(paths.rustc);
    const lldReal = realpathSync(lld);
    const libraries = new Set<string>();
    for (const binary of [rustcReal, lldReal]) {
      const ldd = await runProcess('/usr/bin/ldd', [binary], { env, timeoutMs: 30_000 });
      if (ldd.code !== 0) throw new ToolchainUnavailableError(`ldd ${binary} failed: ${ldd.stderr.trim()}`);
      for (const match of ldd.stdout.matchAll(/(\/\S+)/g)) if (match[1] && existsSync(match[1])) libraries.add(match[1]);
    }
    const sandboxArgs: string[] = [
      // rustc builds no sandbox of its own, but its flags stay as they were: user namespaces not disabled.
      ...isolationArgs({ nestedSandboxes: true, asPid1: false }),
      '--ro-bind', rustcReal, join(sysroot, 'bin', 'rustc'),
      '--ro-bind', lldReal, lld,
      '--ro-bind', targetDir, targetDir,
    ];
    for (const library of [...libraries].sort()) sandboxArgs.push('--ro-bind', realpathSync(library), sandboxPathOf(library));
    sandboxArgs.push(
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
    );

    const toolchain = new RustToolchain({
      logger,
      paths,
      memoryLimitBytes: (options.compileMemoryLimitMb ?? 2048) * 1024 * 1024,
      maxFileBytes: (options.compileMaxFileMb ?? 64) * 1024 * 1024,
      sandboxArgs,
      depsDir: deps.dir,
      serdeJsonRlib: deps.manifest.serdeJson,
      rustcVersion: release,
      serdeJsonVersion,
      id: `rustc-${release}+serde_json-${serdeJsonVersion}+${id}`,
    });
    return toolchain;
  }

  static #findCrate(registryDir: string, crate: string): string | undefined {
    if (!existsSync(registryDir)) return undefined;
    const versions = readdirSync(registryDir)
      .map((name) => new RegExp(`^${crate}-(\\d+\\.\\d+\\.\\d+)$`).exec(name)?.[1])
      .filter((version): version is string => version !== undefined)
      .sort(compareVersions);
    return versions.at(-1);
  }

  /** Builds serde_json (and its dependencies) for wasm32-wasi once per toolchain; reuses it after. */
  static async #ensureDeps(options: RustToolchainOptions & { paths: RustToolchainPaths; id: string; serdeJsonVersion: string; logger: Logger }): Promise<{ dir: string; manifest: DepsManifest }> {
    const dir = join(options.cacheDir, `serde_json-${options.serdeJsonVersion}-${options.id}`);
    const manifestPath = join(dir, 'manifest.json');
    const existing = await readManifest(manifestPath);
    if (existing) return { dir, manifest: existing };

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
        [
          '[package]',
          'name = "lambda_deps"',
          'version = "0.0.0"',
          'edition = "2018"',
          '',
          '[lib]',
          'path = "src/lib.rs"',
          '',
          '[dependencies]',
          `serde_json = { version = "=${options.serdeJsonVersion}", features = ["preserve_order"] }`,
          '',
          '[profile.release]',
          'opt-level = 3',
          'debug = false',
          '',
        ].join('\n'),
      );
      await writeFile(join(build, 'src', 'lib.rs'), 'pub use serde_json;\n');
      // Debian's crate folder replaces crates.io: the build never touches the network.
      await writeFile(
        join(build, '.cargo', 'config.toml'),
        `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "${options.paths.registryDir}"\n[net]\noffline = true\n`,
      );
      const run = await runProcess(options.paths.cargo, ['build', '--release', '--offline', '--target', TARGET], {
        cwd: build,
        env: { PATH: '/usr/bin:/bin', HOME: build, CARGO_HOME: join(build, 'cargo-home'), RUSTC: options.paths.rustc, CARGO_TARGET_DIR: join(build, 'target') },
        timeoutMs: options.depsBuildTimeoutMs ?? 300_000,
      });
      if (run.code !== 0) {
        throw new ToolchainUnavailableError(
          `building serde_json for ${TARGET} failed${run.timedOut ? ' (timed out)' : ''}: ${(run.spawnError?.message ?? run.stderr).trim().split('\n').slice(-15).join('\n')}`,
        );
      }
      const built = join(build, 'target', TARGET, 'release', 'deps');
      const rlibs = (await readdir(built)).filter((name) => name.endsWith('.rlib') && !name.startsWith('liblambda_deps'));
      const serdeJson = rlibs.find((name) => name.startsWith('libserde_json-'));
      if (!serdeJson) throw new ToolchainUnavailableError(`building serde_json produced no libserde_json rlib in ${built}`);
      const staging = await mkdtemp(join(options.cacheDir, '.serde_json-build-'));
      for (const rlib of rlibs) await copyFile(join(built, rlib), join(staging, rlib));
      const manifest: DepsManifest = { serdeJson, rlibs };
      await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await chmod(staging, 0o755);
      try {
        await rename(staging, dir);
      } catch (error) {
        // Another process (replica, test file) finished the same build first: use theirs.
        await rm(staging, { recursive: true, force: true });
        if (!(await readManifest(manifestPath))) throw error;
      }
      options.logger.info({ dir, ms: Math.round(performance.now() - started) }, 'rust runtime: serde_json built for wasm32-wasi');
      const final = await readManifest(manifestPath);
      if (!final) throw new ToolchainUnavailableError(`serde_json build in ${dir} has no manifest`);
      return { dir, manifest: final };
    } finally {
      await rm(build, { recursive: true, force: true });
    }
  }

  /**
   * Compiles one crate root to a wasm32-wasi module in the sandbox. A failure of the user's code is
   * an `ok: false` outcome; a failure of the toolchain or the sandbox throws.
   */
  async compile(request: RustCompileRequest): Promise<RustCompileOutcome> {
    const work = await mkdtemp(join(tmpdir(), 'lambda-rustc-'));
    try {
      await mkdir(join(work, 'out'));
      await writeFile(join(work, 'script.rs'), request.source);
      if (this.#dropRoot) {
        await chown(work, SANDBOX_UID, SANDBOX_UID);
        await chown(join(work, 'out'), SANDBOX_UID, SANDBOX_UID);
      }
      const rustcArgs = [
        '--edition', '2021',
        '--crate-type', 'bin',
        '--crate-name', 'script',
        '--target', TARGET,
        '--error-format', 'json',
        '-C', 'strip=symbols',
        '-C', 'debuginfo=0',
        ...(request.optimizationLevel === 'release' ? ['-C', 'opt-level=3'] : ['-C', 'opt-level=0', '-C', 'debug-assertions=on', '-C', 'overflow-checks=on']),
        '-L', 'dependency=/deps',
        '--extern', `serde_json=/deps/${this.#serdeJsonRlib}`,
        '-o', 'out/script.wasm',
        'script.rs',
      ];
      const cpuSeconds = Math.max(1, Math.ceil(request.timeoutMs / 1000) + 1);
      const limits = [
        `--as=${this.#memoryLimitBytes}`,
        `--cpu=${cpuSeconds}`,
        `--fsize=${this.#maxFileBytes}`,
        '--nofile=256',
        '--core=0',
      ];
      // As root, drop to uid 65534 on the host too before the sandbox is built, so that the user
      // namespace maps the sandbox's uid to an unprivileged host uid rather than to root.
      const dropRoot = dropRootPrefix(this.#paths.setpriv, this.#dropRoot);
      const args = [...limits, '--', ...dropRoot, this.#paths.bwrap, ...this.#sandboxArgs, '--bind', work, '/work', '--chdir', '/work', this.#paths.rustc, ...rustcArgs];
      // An empty environment: bubblewrap's own (visible as /proc/1/environ inside) holds nothing.
      const run = await runProcess(this.#paths.prlimit, args, {
        env: {},
        timeoutMs: request.timeoutMs,
        maxOutputBytes: 2 * 1024 * 1024,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      const durationMs = run.durationMs;
      if (run.timedOut) {
        return { ok: false, durationMs, error: { kind: 'CompileTimeout', message: `compilation did not finish within ${Math.round(request.timeoutMs / 1000)} s (WASM_COMPILE_TIMEOUT_SECONDS)` } };
      }
      if (run.aborted) throw new Error('compilation aborted');
      if (run.spawnError) throw new Error(`could not start the compiler sandbox: ${run.spawnError.message}`);
      if (run.code === 0) {
        const wasm = await readFile(join(work, 'out', 'script.wasm'));
        return { ok: true, wasm: new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength), durationMs };
      }
      const diagnostics = parseDiagnostics(run.stderr);
      if (diagnostics.errors.length === 0) {
        // rustc produced no diagnostic: the sandbox or a limit stopped it.
        const reason = run.signal ? `killed by ${run.signal}` : `exit code ${run.code}`;
        if (run.signal === 'SIGKILL' || run.signal === 'SIGXCPU' || /memory allocation|out of memory|Cannot allocate/i.test(run.stderr)) {
          return { ok: false, durationMs, error: { kind: 'CompileLimit', message: `the compiler hit a resource limit (${reason})`, diagnostics: cleanText(run.stderr) } };
        }
        this.#logger.error({ code: run.code, signal: run.signal, stderr: run.stderr.slice(0, 4000) }, 'rust runtime: rustc failed without diagnostics');
        throw new Error(`rustc failed without diagnostics (${reason}): ${run.stderr.trim().slice(0, 500)}`);
      }
      return { ok: false, durationMs, error: describeFailure(diagnostics, request.userLines) };
    } finally {
      await rm(work, { recursive: true, force: true }).catch((error: unknown) => this.#logger.warn({ err: error, work }, 'rust runtime: could not remove a compile dir'));
    }
  }

  /** Where the prebuilt serde_json lives (for health details). */
  get depsDir(): string {
    return this.#depsDir;
  }
}

async function readManifest(path: string): Promise<DepsManifest | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<DepsManifest>;
    if (typeof parsed.serdeJson !== 'string' || !Array.isArray(parsed.rlibs)) return undefined;
    const dir = path.slice(0, -'manifest.json'.length);
    if (!existsSync(join(dir, basename(parsed.serdeJson)))) return undefined;
    return { serdeJson: basename(parsed.serdeJson), rlibs: parsed.rlibs.filter((name): name is string => typeof name === 'string') };
  } catch {
    return undefined;
  }
}

// ---- diagnostics ---------------------------------------------------------------------------------

interface RustcSpan {
  readonly file_name?: unknown;
  readonly line_start?: unknown;
  readonly column_start?: unknown;
  readonly is_primary?: unknown;
}

interface RustcDiagnostic {
  readonly message: string;
  readonly level: string;
  readonly code?: string;
  readonly rendered: string;
  readonly spans: readonly RustcSpan[];
}

function parseDiagnostics(stderr: string): { errors: RustcDiagnostic[]; rendered: string[] } {
  const errors: RustcDiagnostic[] = [];
  const rendered: string[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) {
      if (line.trim() !== '') rendered.push(line);
      continue;
    }
    try {
      const parsed = JSON.parse(line) as { message?: unknown; level?: unknown; code?: { code?: unknown } | null; rendered?: unknown; spans?: unknown };
      const diagnostic: RustcDiagnostic = {
        message: typeof parsed.message === 'string' ? parsed.message : '',
        level: typeof parsed.level === 'string' ? parsed.level : '',
        ...(typeof parsed.code?.code === 'string' ? { code: parsed.code.code } : {}),
        rendered: typeof parsed.rendered === 'string' ? parsed.rendered : '',
        spans: Array.isArray(parsed.spans) ? (parsed.spans as RustcSpan[]) : [],
      };
      if (diagnostic.level === 'warning' && diagnostic.spans.length === 0) continue;
      if (diagnostic.rendered) rendered.push(diagnostic.rendered.trimEnd());
      if (diagnostic.level === 'error' || diagnostic.level === 'error: internal compiler error') errors.push(diagnostic);
    } catch {
      rendered.push(line);
    }
  }
  return { errors, rendered };
}

/** Sandbox paths out of the compiler's text: the script is `script.rs`, nothing else is named. */
function cleanText(text: string): string {
  return text.replaceAll('/work/', '').replace(/\/deps\/(lib[\w-]+?)-[0-9a-f]{16}\.(rlib|rmeta)/g, '$1.$2').trim();
}

function describeFailure(diagnostics: { errors: RustcDiagnostic[]; rendered: string[] }, userLines: number): CompileFailure {
  const first = diagnostics.errors.find((d) => d.spans.length > 0 && !d.message.startsWith('aborting due to')) ?? diagnostics.errors[0];
  const text = cleanText(diagnostics.rendered.join('\n'));
  if (!first) return { kind: 'rustc', message: 'compilation failed', diagnostics: text };
  // The primary span, or else (e.g. an unclosed delimiter, reported at the end of the file, which
  // is in the entry point) the first span that points into the user's script.
  const inUserScript = (span: RustcSpan): boolean =>
    (span.file_name === 'script.rs' || span.file_name === '/work/script.rs') && typeof span.line_start === 'number' && span.line_start <= userLines;
  const primary = first.spans.find((s) => s.is_primary === true) ?? first.spans[0];
  const span = primary && inUserScript(primary) ? primary : first.spans.find(inUserScript);
  const line = span && typeof span.line_start === 'number' ? span.line_start : undefined;
  const column = span && typeof span.column_start === 'number' ? span.column_start : undefined;
  const code = first.code ? `[${first.code}] ` : '';
  const inEntryPoint = primary !== undefined && !inUserScript(primary) && !/unclosed delimiter|unterminated/.test(first.message);
  if (inEntryPoint) {
    // The error is where the runtime's entry point calls the script: the script does not define a
    // handler it can call (missing, another signature, or a `main` of its own).
    return {
      kind: 'rustc',
      message: `${code}${first.message} (the script must define \`pub fn handler(event: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value, String>\` and no \`main\`)`,
      ...(line !== undefined ? { line } : {}),
      ...(column !== undefined ? { column } : {}),
      diagnostics: text,
    };
  }
  return {
    kind: 'rustc',
    message: `${code}${first.message}`,
    ...(line !== undefined ? { line } : {}),
    ...(column !== undefined ? { column } : {}),
    diagnostics: text,
  };
}
