/**
 * What each language can run, for GET /api/v1/runtimes (like Piston's /runtimes): the
 * Language-Title rules that reach it, versions, script forms, what a Node.js script finds in its
 * sandbox, the packages or crates it may use, and the limits. Versions of Python and rustc are
 * asked of the binaries once, on the first request, and kept; the package store is read each time.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireScope, SCOPES, type Principal } from '../common/principal.js';
import type { Config } from '../config/config.js';
import { PackageStore } from '../runtimes/nodejs/bundle/package-store.js';
import { UNAVAILABLE_BUILTINS } from '../runtimes/nodejs/platform-bundle.js';
import { NODE_BUILTINS, NODE_CRYPTO, WEB_GLOBALS } from '../runtimes/nodejs/platform-catalog.js';
import { listPythonPackages } from '../runtimes/python/packages.js';
import type { Language } from '../runtimes/runtime.js';
import { DEFAULT_PATHS } from '../runtimes/rust/rust-toolchain.js';
import { CRATE_NAMES, crateVersions, WASI_TARGET } from '../runtimes/rust/crates.js';
import type { LanguageRouter } from './language-router.js';

/** The rustc and crate folder rust-toolchain.ts compiles with; `rustc` on PATH may be another one (rustup). */
const { rustc: RUSTC, registryDir: CRATE_REGISTRY } = DEFAULT_PATHS;
const PROBE_TIMEOUT_MS = 5000;
const UNKNOWN = 'unknown';

const run = promisify(execFile);

export interface PackageVersion {
  readonly name: string;
  readonly version: string;
}

export interface RuntimeLimits {
  readonly timeout_ms_default: number;
  readonly timeout_ms_max: number;
  readonly memory_mb: number;
  readonly max_result_bytes: number;
  readonly max_log_entries: number;
  readonly max_log_bytes: number;
  readonly max_script_bytes: number;
  readonly max_bundle_bytes?: number;
  readonly compile_timeout_ms?: number;
}

export interface RuntimeDescription {
  readonly language: Language;
  readonly language_titles: readonly string[];
  readonly versions: Readonly<Record<string, string>>;
  readonly forms: readonly string[];
  readonly globals?: readonly string[];
  readonly builtins?: { readonly available: readonly string[]; readonly unavailable: readonly string[] };
  readonly crypto?: typeof NODE_CRYPTO;
  readonly packages?: readonly PackageVersion[];
  readonly crates?: readonly PackageVersion[];
  readonly limits: RuntimeLimits;
}

export interface RuntimeCatalogOptions {
  readonly config: Config;
  readonly router: LanguageRouter;
}

const NODEJS_FORMS = [
  'body: the body of an async function (event, params, context)',
  'commonjs: module.exports = async (event) => ...',
  'esm: export default / export const handler',
  'typescript: Language-Title typescript-<title>',
];
const PYTHON_FORMS = [
  'handler: def handler(event) (or handler(event, context)), called per execute',
  'handle: def handle(params) (or handle(params, context)), called per execute',
  'script: top-level code run per execute with params, context and event as globals; its global result is the result',
];
const RUST_FORMS = [
  'handler: pub fn handler(event: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value, String>',
  'serde handler: pub fn handler(params: P) -> Result<R, E> (or handler(params: P, context: C)), P and C: Deserialize, R: Serialize, E: Display; params that do not fit P are INVALID_PARAMS',
  'program: fn main() reading the event as JSON on stdin and printing the result as JSON on stdout',
  'module: a ready WebAssembly module (WAT text or base64 of a .wasm): the event as JSON on stdin, the result as JSON on stdout',
];

/** The first line a binary prints for `args`, or "unknown" when it does not run. */
async function firstLine(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout: PROBE_TIMEOUT_MS, env: { PATH: '/usr/bin:/bin' } });
    // Pythons before 3.4 print their version on stderr.
    return (stdout.trim() || stderr.trim()).split('\n')[0]?.trim() || UNKNOWN;
  } catch {
    return UNKNOWN;
  }
}

export class RuntimeCatalog {
  readonly #config: Config;
  readonly #router: LanguageRouter;
  readonly #packages: PackageStore;
  #python: Promise<string> | undefined;
  #rustc: Promise<string> | undefined;
  #crateList: readonly PackageVersion[] | undefined;

  constructor(options: RuntimeCatalogOptions) {
    this.#config = options.config;
    this.#router = options.router;
    this.#packages = new PackageStore(options.config.nodejsBundles.packagesDir);
  }

  /** Every language, in the order of LANGUAGES; needs read:functions, like the functions catalog. */
  async describe(principal: Principal): Promise<{ runtimes: RuntimeDescription[] }> {
    requireScope(principal, [SCOPES.readFunctions]);
    const [packages, python, rustc] = await Promise.all([this.#packages.list(), this.#pythonVersion(), this.#rustcVersion()]);
    const c = this.#config;
    return {
      runtimes: [
        {
          language: 'nodejs',
          language_titles: this.#titles('nodejs'),
          versions: { node: process.versions.node, v8: process.versions.v8 },
          forms: NODEJS_FORMS,
          globals: WEB_GLOBALS,
          builtins: { available: NODE_BUILTINS, unavailable: UNAVAILABLE_BUILTINS },
          crypto: NODE_CRYPTO,
          packages: packages.map(({ name, version }) => ({ name, version })),
          limits: { ...this.#limits(c.nodejs.memoryLimitMb), max_bundle_bytes: c.nodejsBundles.maxBundleBytes },
        },
        {
          language: 'python',
          language_titles: this.#titles('python'),
          versions: { python },
          forms: PYTHON_FORMS,
          // PYTHON_PACKAGES_DIR and, with PYTHON_SYSTEM_PACKAGES, Debian's python3-* packages, as this host has them.
          packages: await listPythonPackages(c.python),
          limits: this.#limits(c.python.memoryLimitMb),
        },
        {
          language: 'rust',
          language_titles: this.#titles('rust'),
          versions: { rustc, target: WASI_TARGET },
          forms: RUST_FORMS,
          crates: this.#crates(),
          limits: { ...this.#limits(c.rust.memoryLimitMb), compile_timeout_ms: c.wasmCompileTimeoutSeconds * 1000 },
        },
      ],
    };
  }

  /** The rules' patterns for `language`, in order; a TypeScript rule is marked. */
  #titles(language: Language): string[] {
    return this.#router
      .rules()
      .filter((rule) => rule.language === language)
      .map((rule) => (rule.dialect === 'typescript' ? `${rule.pattern} (TypeScript)` : rule.pattern));
  }

  #limits(memoryMb: number): RuntimeLimits {
    const c = this.#config;
    const max = c.runtimeTimeoutSeconds * 1000;
    return {
      // What an execute without timeout_ms gets (execution-service.ts caps it the same way).
      timeout_ms_default: Math.min(c.defaultTimeoutMs, max),
      timeout_ms_max: max,
      memory_mb: memoryMb,
      max_result_bytes: c.maxResultBytes,
      max_log_entries: c.maxLogEntries,
      max_log_bytes: c.maxLogBytes,
      max_script_bytes: c.maxScriptSize,
    };
  }

  /** `Python 3.11.2` → `3.11.2`. */
  #pythonVersion(): Promise<string> {
    this.#python ??= firstLine(this.#config.python.pythonPath, ['--version']).then((line) => /^Python (\S+)/.exec(line)?.[1] ?? UNKNOWN);
    return this.#python;
  }

  /** `rustc 1.63.0` as rustc prints it. */
  #rustcVersion(): Promise<string> {
    this.#rustc ??= firstLine(RUSTC, ['--version']).then((line) => (line.startsWith('rustc ') ? line : UNKNOWN));
    return this.#rustc;
  }

  /** The crates rust-toolchain.ts builds: crates.json's, at the newest version in Debian's crate folder ("unknown" when it lacks them). */
  #crates(): readonly PackageVersion[] {
    if (this.#crateList) return this.#crateList;
    try {
      this.#crateList = crateVersions(CRATE_REGISTRY);
    } catch {
      return CRATE_NAMES.map((name) => ({ name, version: UNKNOWN }));
    }
    return this.#crateList;
  }
}
