/**
 * The Rust runtime: a script is Rust, compiled to WebAssembly (WASI preview 1) at prepare, or a ready
 * module (WAT text, base64 of a `.wasm`), run in worker threads in a fresh instance per call (no state
 * survives a call). A Rust script defines `pub fn handler(...)` (the event as a `Map<String, Value>`,
 * or any serde types: guest/entry.rs), which the entry point appended to it calls; a whole program
 * (`fn main`, no `handler`) and a ready module read the event as JSON on stdin and write their
 * result as JSON on stdout. Scripts may use the crates of crates.json.
 *
 * A script is compiled once for every replica and restart: the module is kept in the injected
 * ModuleStore (PostgreSQL, keyed by a hash of script, options, entry point and toolchain), in
 * memory, and as the session's artifact; concurrent prepares of one new script share one compile.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { LRUCache } from 'lru-cache';
import { isPlainObject } from '../../common/plain-object.js';
import type { Config } from '../../config/config.js';
import { projectPath } from '../../config/paths.js';
import { ServiceError } from '../../errors/service-error.js';
import type { CompileFailure, ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from '../runtime.js';
import { errorMessage, eventJson, NOT_PREPARED, roundMs } from '../kit/invocation.js';
import type { OutputLimits } from '../kit/output-limits.js';
import { Lifecycle } from '../kit/lifecycle.js';
import { createScriptCache, type ScriptCache } from '../kit/script-cache.js';
import { SingleFlight } from '../kit/single-flight.js';
import { openRustToolchain, type OptimizationLevel, type RustToolchain, type RustToolchainOptions } from './rust-toolchain.js';
import { decodeBase64Module, detectSourceFormat, loadModule, watToWasm, type SourceFormat } from './wasm-module.js';
import type { ModuleStore } from '../kit/module-store.js';
import { WorkerPool } from './worker-pool.js';

/**
 * The `rust` settings (src/config/schema.ts holds their defaults, bounds and meaning), the output
 * limits, the toolchain's options, the module store and the compile time limit.
 */
export type RustRuntimeOptions = Config['rust'] &
  OutputLimits &
  RustToolchainOptions & {
    /** Compiled modules shared across replicas and restarts (PostgreSQL in the service). */
    readonly store: ModuleStore;
    /** Wall-time limit of one compile (WASM_COMPILE_TIMEOUT_SECONDS × 1000). */
    readonly compileTimeoutMs: number;
  };

/** Bound of the scriptHash → module map (hashes are small; modules are bounded separately). */
const MAX_SCRIPT_HASHES = 20_000;
const ENTRY_PATH = projectPath('src', 'runtimes', 'rust', 'guest', 'entry.rs');
/** Compiled at start: the smallest real compile proves the toolchain and the sandbox work here. */
const SELF_TEST = 'pub fn handler(event: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value, String> {\n    Ok(serde_json::Value::from(event.len()))\n}\n';

interface LoadedModule {
  readonly module: WebAssembly.Module;
  /** The module as built (before the memory cap): what the store and the artifact hold. */
  readonly artifact: Uint8Array;
  /** The artifact's size: the memory cache is bounded by it. */
  readonly bytes: number;
  /** Lines of the user's Rust script (errors and panics beyond them are in the entry point). */
  readonly userLines: number;
}

/** What the runtime counts: `compiles` is how many times rustc ran; the hits, modules reused instead of compiling. */
const NO_COUNTS = { compiles: 0, compileFailures: 0, storeHits: 0, memoryHits: 0, artifactLoads: 0 };
export type RustRuntimeCounters = typeof NO_COUNTS;

type Serving = { readonly toolchain: RustToolchain; readonly pool: WorkerPool };

const sha256 = (...parts: string[]): string => createHash('sha256').update(parts.map((part) => `${part}\0`).join('')).digest('hex');

export class RustRuntime implements Runtime {
  readonly language: Language = 'rust';

  readonly #o: RustRuntimeOptions;
  readonly #life: Lifecycle;
  readonly #entrySource: string;
  readonly #entryVersion: string;
  /** Set by the start (the pool before its workers are up, so that a stop ends them whatever happens). */
  #ready: Serving | undefined;
  /** Compiled modules by cache key; the workers drop one that leaves. */
  readonly #modules: ScriptCache<LoadedModule>;
  /** The caller's script hash → cache key. */
  readonly #scripts = new LRUCache<string, string>({ max: MAX_SCRIPT_HASHES });
  readonly #loading = new SingleFlight<string, LoadedModule | CompileFailure>();
  #compilesRunning = 0;
  readonly #compileQueue: (() => void)[] = [];
  readonly #compileAbort = new AbortController();
  readonly #counters: RustRuntimeCounters = { ...NO_COUNTS };

  constructor(options: RustRuntimeOptions) {
    this.#o = options;
    this.#life = new Lifecycle({ language: 'rust', name: 'the Rust runtime', logger: options.logger, stopGraceMs: this.#o.stopGraceMs });
    this.#modules = createScriptCache<LoadedModule>(this.#o.maxModules, this.#o.maxModuleBytes, (_module, key) => this.#ready?.pool.forget(key));
    this.#entrySource = readFileSync(ENTRY_PATH, 'utf8');
    this.#entryVersion = sha256(this.#entrySource).slice(0, 16);
  }

  /**
   * Finds the toolchain (building serde_json on the first start with a given cache dir, ≈ 7–13 s),
   * proves the sandbox with one small compile, and starts the workers. Without a working toolchain
   * the runtime is unavailable, naming what is missing.
   */
  start(): Promise<void> {
    return this.#life.start(
      async () => {
        const started = performance.now();
        const o = this.#o;
        const toolchain = await openRustToolchain(o);
        const test = await toolchain.compile({ source: `${SELF_TEST}${this.#entrySource}`, optimizationLevel: 'debug', userLines: 3, timeoutMs: o.compileTimeoutMs });
        if (!test.ok) throw new Error(`the sandboxed test compile failed: ${test.error.message}\n${test.error.diagnostics ?? ''}`);
        // Under the largest memory a wasm32 module may have: this proves the toolchain, not the limit.
        const module = await loadModule(test.wasm, 4 * 1024 ** 3);
        if ('kind' in module) throw new Error(`the test module does not fit the runner: ${module.message}`);
        const pool = new WorkerPool(o);
        this.#ready = { toolchain, pool };
        await pool.start();
        o.logger.info({ ms: Math.round(performance.now() - started), toolchain: toolchain.id, workers: o.poolSize }, 'rust runtime started');
      },
      (error) => `The Rust runtime is unavailable: ${errorMessage(error)}`,
    );
  }

  /** Refuses new calls and queued compiles, lets running calls finish for `stopGraceMs`, then ends compiles and workers. */
  stop(): Promise<void> {
    return this.#life.stop({
      drain: () => this.#compileQueue.splice(0).forEach((next) => next()),
      force: async () => {
        this.#compileAbort.abort();
        await this.#ready?.pool.stop('the Rust runtime stopped');
        this.#ready = undefined;
        this.#modules.clear();
        this.#scripts.clear();
      },
    });
  }

  health(): RuntimeHealth {
    const down = this.#life.notRunning();
    if (down) return down;
    const { toolchain, pool } = this.#serving();
    const { compiles, compileFailures, storeHits, memoryHits, artifactLoads } = this.#counters;
    const cache = { modules: this.#modules.size, module_bytes: this.#modules.calculatedSize, store_hits: storeHits, memory_hits: memoryHits, artifact_loads: artifactLoads };
    return { status: 'up', details: { toolchain: toolchain.id, ...pool.stats, ...cache, compiles, compiles_running: this.#compilesRunning, compile_failures: compileFailures } };
  }

  /** Counters for tests and operators: how many times rustc actually ran, cache hits, etc. */
  get counters(): Readonly<RustRuntimeCounters> {
    return { ...this.#counters };
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const { toolchain } = this.#serving();
    return this.#life.track(async () => {
      const started = performance.now();
      if (typeof request.source !== 'string') return { ok: false, error: { kind: 'InvalidScript', message: 'script source must be a string' } };
      const level = optimizationLevel(request.compileOptions);
      if (typeof level !== 'string') return { ok: false, error: level };
      const format = detectSourceFormat(request.source);
      const key = format === 'rust' ? sha256('rust', toolchain.id, this.#entryVersion, level, request.source) : sha256(format, request.source);
      const known = this.#modules.get(key);
      if (known) this.#counters.memoryHits++;
      const loaded = known ?? (await this.#loading.run(key, () => this.#obtain(key, format, request, level, toolchain)));
      if ('kind' in loaded) return { ok: false, error: loaded };
      this.#scripts.set(request.scriptHash, key);
      return { ok: true, artifact: loaded.artifact, compileMs: roundMs(performance.now() - started) };
    });
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    const { pool } = this.#serving();
    const key = this.#scripts.peek(request.scriptHash);
    const loaded = key === undefined ? undefined : this.#modules.get(key);
    if (key === undefined || !loaded) return NOT_PREPARED;
    return this.#life.track(() => pool.run({ key, module: loaded.module, stdin: eventJson(request), timeoutMs: Math.max(1, Math.floor(request.timeoutMs)), userLines: loaded.userLines }));
  }

  /** No warm state is kept per instance: every invocation is a fresh WebAssembly instance. */
  release(_instanceKey: string): void {}

  /** The module of a script the memory cache does not hold: from the artifact given, the text, the store, or rustc. */
  async #obtain(key: string, format: SourceFormat, request: PrepareRequest, level: OptimizationLevel, toolchain: RustToolchain): Promise<LoadedModule | CompileFailure> {
    const source = request.source;
    const userLines = source.split('\n').length;
    const fromArtifact = await this.#reuse(key, request.artifact, userLines, 'artifactLoads');
    if (fromArtifact) return fromArtifact;
    if (format !== 'rust') {
      const wasm = format === 'wat' ? await watToWasm(source) : decodeBase64Module(source);
      return wasm instanceof Uint8Array ? this.#load(key, wasm, userLines) : wasm;
    }
    const stored = await this.#o.store.get(key).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'rust runtime: module store unreachable; compiling');
      return undefined;
    });
    const fromStore = await this.#reuse(key, stored?.module, userLines, 'storeHits');
    if (fromStore) return fromStore;

    // A whole program (`fn main`, no `handler`) is compiled as it is: it reads stdin and prints its result.
    const crate = rustScriptForm(source) === 'program' ? source : `${source}${source.endsWith('\n') ? '' : '\n'}${this.#entrySource}`;
    const job = { source: crate, optimizationLevel: level, userLines, timeoutMs: this.#o.compileTimeoutMs, signal: this.#compileAbort.signal };
    // At most maxConcurrentCompiles run; a stop refuses the compiles still waiting.
    if (this.#compilesRunning >= this.#o.maxConcurrentCompiles) await new Promise<void>((resolve) => this.#compileQueue.push(resolve));
    this.#life.assertRunning();
    this.#compilesRunning++;
    const compiled = await toolchain
      .compile(job)
      .catch((error: unknown) => {
        if (!this.#life.running) throw this.#life.unavailable();
        this.#o.logger.error({ err: error }, 'rust runtime: compile failed');
        throw new ServiceError('INTERNAL_ERROR', 'the Rust runtime failed to run the compiler');
      })
      .finally(() => {
        this.#compilesRunning--;
        this.#compileQueue.shift()?.();
      });
    this.#counters.compiles++;
    if (!compiled.ok) {
      this.#counters.compileFailures++;
      return compiled.error;
    }
    this.#o.logger.debug({ key, ms: Math.round(compiled.durationMs), bytes: compiled.wasm.byteLength, level }, 'rust runtime: compiled');
    const loaded = await this.#load(key, compiled.wasm, userLines);
    if (!('kind' in loaded)) {
      await this.#o.store.put(key, { module: compiled.wasm, toolchain: toolchain.id }).catch((error: unknown) => {
        this.#o.logger.warn({ err: error }, 'rust runtime: could not keep the module in the store');
      });
    }
    return loaded;
  }

  /** A module built before (the session's artifact, the store's copy), unless it does not load: then it is built again. */
  async #reuse(key: string, bytes: Uint8Array | undefined, userLines: number, counter: 'artifactLoads' | 'storeHits'): Promise<LoadedModule | undefined> {
    if (!bytes || bytes.byteLength === 0) return undefined;
    const loaded = await this.#load(key, bytes, userLines);
    if (!('kind' in loaded)) {
      this.#counters[counter]++;
      return loaded;
    }
    this.#o.logger.warn({ key, from: counter === 'artifactLoads' ? 'artifact' : 'store', error: loaded.message }, 'rust runtime: a module built before does not load; building it again');
    return undefined;
  }

  async #load(key: string, artifact: Uint8Array, userLines: number): Promise<LoadedModule | CompileFailure> {
    const module = await loadModule(artifact, this.#o.memoryLimitMb * 1024 * 1024);
    if ('kind' in module) return module;
    const loaded: LoadedModule = { module, artifact: artifact.slice(), bytes: artifact.byteLength, userLines };
    this.#modules.set(key, loaded);
    return loaded;
  }

  /** The toolchain and the workers; RUNTIME_UNAVAILABLE unless running. */
  #serving(): Serving {
    const ready = this.#life.running ? this.#ready : undefined;
    if (!ready) throw this.#life.unavailable();
    return ready;
  }
}

/**
 * How a Rust script is built: `handler` (it defines a `fn handler`; the entry point is appended) or
 * `program` (a `fn main` and no `handler`: compiled as it is). A comment can fool the test; then the
 * compile fails with rustc's own message, nothing worse.
 */
export function rustScriptForm(source: string): 'handler' | 'program' {
  if (/^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?fn[ \t]+handler\b/m.test(source)) return 'handler';
  return /^[ \t]*(?:pub[ \t]+)?fn[ \t]+main[ \t]*\(/m.test(source) ? 'program' : 'handler';
}

/** The compile options a Rust script may send (`optimization_level` alone, default release); anything else is refused at prepare. */
function optimizationLevel(options: Readonly<Record<string, unknown>> | undefined): OptimizationLevel | CompileFailure {
  const refuse = (message: string): CompileFailure => ({ kind: 'InvalidCompileOptions', message });
  if (options === undefined || options === null) return 'release';
  if (!isPlainObject(options)) return refuse('compile_options must be an object');
  const unknown = Object.keys(options).filter((name) => name !== 'optimization_level');
  const names = unknown.map((name) => `"${name}"`).join(', ');
  if (unknown.length > 0) return refuse(`unknown compile option${unknown.length > 1 ? 's' : ''} ${names}; Rust accepts only "optimization_level" ("debug" or "release")`);
  const level = options.optimization_level;
  if (level === undefined) return 'release';
  if (level !== 'debug' && level !== 'release') return refuse(`compile_options.optimization_level must be "debug" or "release", got ${JSON.stringify(level)}`);
  return level;
}
