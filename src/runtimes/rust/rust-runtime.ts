/**
 * The Rust runtime: scripts are Rust compiled to WebAssembly (WASI preview 1) at prepare, or ready
 * modules (WAT text, base64 of a `.wasm`), run in worker threads, a fresh instance per invocation.
 *
 * A Rust script defines `pub fn handler(event: Map<String, Value>) -> Result<Value, String>`; the
 * runtime appends an entry point (`guest/entry.rs`) that reads the event on stdin, calls it and hands
 * the result to the host, and compiles the crate with Debian's rustc in a bubblewrap sandbox
 * (`rust-toolchain.ts`). A ready module reads the event as JSON on stdin and writes its result as
 * JSON on stdout.
 *
 * Compiled modules are cached three ways: in PostgreSQL (an injected WasmModuleStore, keyed by a
 * hash of script, options, entry point and toolchain), so that every replica and every restart
 * reuses one compile; in memory as compiled `WebAssembly.Module`s (LRU, bounded in count and bytes);
 * and as the session's artifact (PrepareResult.artifact, given back as PrepareRequest.artifact).
 * Concurrent prepares of one new script share one compile.
 *
 * Every instance starts from the module's initial state, so Rust statics do not survive from one
 * invocation to the next (there is no warm module state, and nothing leaks between sessions).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { LRUCache } from 'lru-cache';
import { IdleWaiters, waitAtMost } from '../../common/idle.js';
import { isPlainObject } from '../../common/plain-object.js';
import { projectPath } from '../../config/paths.js';
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import type {
  CompileFailure,
  ExecuteRequest,
  InvocationResult,
  InvocationStats,
  Language,
  PrepareRequest,
  PrepareResult,
  Runtime,
  RuntimeHealth,
  ScriptError,
} from '../runtime.js';
import { eventJson, NOT_PREPARED, OUTPUT_LIMIT_DEFAULTS, roundMs } from '../kit/invocation.js';
import { truncationMarker, utf8Truncate } from '../kit/output-limits.js';
import { RustToolchain, ToolchainUnavailableError, type OptimizationLevel, type RustToolchainPaths } from './rust-toolchain.js';
import { boundModule, checkInterface, decodeBase64Module, detectSourceFormat, watToWasm, WASM_PAGE_BYTES, type SourceFormat } from './wasm-module.js';
import type { WasmModuleStore } from './wasm-module-store.js';
import { WorkerPool, type JobOutcome, type RawOutput } from './worker-pool.js';
import { SingleFlight } from '../kit/single-flight.js';

export interface RustRuntimeOptions {
  logger: Logger;
  /** Compiled modules shared across replicas and restarts (PostgreSQL in the service). */
  store: WasmModuleStore;
  /** Where serde_json is built once for wasm32-wasi and kept (e.g. `$DATA_DIR/wasm-toolchain`). */
  cacheDir: string;
  /** Wall-time limit of one compile (WASM_COMPILE_TIMEOUT_SECONDS × 1000; default 60 s). */
  compileTimeoutMs: number;
  /** Worker threads running modules (default 2). */
  poolSize: number;
  /** Maximum WebAssembly memory of one instance, in MiB (default 128). */
  memoryLimitMb: number;
  /** Log lines kept per invocation (default 100); when lines are dropped or cut, one marker line follows them. */
  maxLogEntries: number;
  /** UTF-8 bytes of log lines kept per invocation (default 65536), the marker aside. */
  maxLogBytes: number;
  /** A result whose JSON is bigger than this is refused with `output_limit` (default 1 MiB). */
  maxResultBytes: number;
  /** Compiles run at once (default 2); more wait. */
  maxConcurrentCompiles?: number;
  /** LRU bound of compiled modules kept in memory (default 256). */
  maxModules?: number;
  /** LRU bound of the total size of the modules kept in memory, in bytes of wasm (default 256 MiB). */
  maxModuleBytes?: number;
  /** Compiled modules each worker keeps (default 64). */
  modulesPerWorker?: number;
  /** V8 heap of each worker thread, in MiB (default 64). */
  workerHeapMb?: number;
  /** Address-space limit of one rustc run, in MiB (default 2048). */
  compileMemoryLimitMb?: number;
  /** How long `stop` waits for running calls and compiles (default 5000 ms). */
  stopGraceMs?: number;
  /** Where the toolchain's binaries are (Debian's paths by default). */
  toolchainPaths?: Partial<RustToolchainPaths>;
}

export const RUST_RUNTIME_DEFAULTS = {
  compileTimeoutMs: 60_000,
  poolSize: 2,
  memoryLimitMb: 128,
  ...OUTPUT_LIMIT_DEFAULTS,
  maxConcurrentCompiles: 2,
  maxModules: 256,
  maxModuleBytes: 256 * 1024 * 1024,
  modulesPerWorker: 64,
  workerHeapMb: 64,
  stopGraceMs: 5000,
} as const;

/** The compile options a Rust script may send; anything else is refused at prepare. */
const OPTIMIZATION_LEVELS: readonly OptimizationLevel[] = ['debug', 'release'];
const DEFAULT_OPTIMIZATION: OptimizationLevel = 'release';
/** Bound of the scriptHash → module map (hashes are small; modules are bounded separately). */
const MAX_SCRIPT_HASHES = 20_000;
const USER_FILE = 'script.rs';

const WORKER_PATH = projectPath('src', 'runtimes', 'rust', 'guest', 'wasi-worker.js');
const ENTRY_PATH = projectPath('src', 'runtimes', 'rust', 'guest', 'entry.rs');

interface LoadedModule {
  readonly key: string;
  readonly format: SourceFormat;
  readonly module: WebAssembly.Module;
  /** The module as built (before the memory cap): what the store and the artifact hold. */
  readonly bytes: Uint8Array;
  /** Lines of the user's Rust script (errors and panics beyond them are in the entry point). */
  readonly userLines: number;
}

/** What the runtime counts; `compiles` is how many times rustc ran. */
export interface RustRuntimeCounters {
  compiles: number;
  compileFailures: number;
  /** Modules loaded from the WasmModuleStore instead of compiling. */
  storeHits: number;
  /** Prepares answered from the in-memory cache. */
  memoryHits: number;
  /** Modules loaded from PrepareRequest.artifact. */
  artifactLoads: number;
  executions: number;
}

type Loaded = { ok: true; module: LoadedModule } | { ok: false; error: CompileFailure };


function sha256(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

export class RustRuntime implements Runtime {
  readonly language: Language = 'rust';

  readonly #o: Required<Omit<RustRuntimeOptions, 'toolchainPaths'>> & { toolchainPaths: Partial<RustToolchainPaths> };
  readonly #logger: Logger;
  readonly #entrySource: string;
  readonly #entryVersion: string;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #unavailableReason: string | undefined;
  #toolchain: RustToolchain | undefined;
  #pool: WorkerPool | undefined;

  /** Compiled modules by cache key; insertion order is recency order (LRU). */
  readonly #modules = new Map<string, LoadedModule>();
  #moduleBytes = 0;
  /** The caller's script hash → cache key. */
  readonly #scripts = new LRUCache<string, string>({ max: MAX_SCRIPT_HASHES });
  readonly #loading = new SingleFlight<string, Loaded>();

  #compilesRunning = 0;
  readonly #compileQueue: Array<() => void> = [];
  readonly #compileAbort = new AbortController();
  #inFlight = 0;
  readonly #idle = new IdleWaiters();
  readonly #counters: RustRuntimeCounters = { compiles: 0, compileFailures: 0, storeHits: 0, memoryHits: 0, artifactLoads: 0, executions: 0 };

  constructor(options: RustRuntimeOptions) {
    this.#logger = options.logger;
    this.#o = {
      ...options,
      compileTimeoutMs: Math.max(1000, options.compileTimeoutMs),
      poolSize: Math.max(1, options.poolSize),
      memoryLimitMb: Math.max(1, options.memoryLimitMb),
      maxLogEntries: Math.max(0, options.maxLogEntries),
      maxLogBytes: Math.max(0, options.maxLogBytes),
      maxResultBytes: Math.max(1, options.maxResultBytes),
      maxConcurrentCompiles: Math.max(1, options.maxConcurrentCompiles ?? RUST_RUNTIME_DEFAULTS.maxConcurrentCompiles),
      maxModules: Math.max(1, options.maxModules ?? RUST_RUNTIME_DEFAULTS.maxModules),
      maxModuleBytes: Math.max(1, options.maxModuleBytes ?? RUST_RUNTIME_DEFAULTS.maxModuleBytes),
      modulesPerWorker: Math.max(1, options.modulesPerWorker ?? RUST_RUNTIME_DEFAULTS.modulesPerWorker),
      workerHeapMb: Math.max(16, options.workerHeapMb ?? RUST_RUNTIME_DEFAULTS.workerHeapMb),
      compileMemoryLimitMb: Math.max(512, options.compileMemoryLimitMb ?? 2048),
      stopGraceMs: Math.max(0, options.stopGraceMs ?? RUST_RUNTIME_DEFAULTS.stopGraceMs),
      toolchainPaths: options.toolchainPaths ?? {},
    };
    this.#entrySource = readFileSync(ENTRY_PATH, 'utf8');
    this.#entryVersion = sha256(this.#entrySource).slice(0, 16);
  }

  /**
   * Finds the toolchain (building serde_json for wasm32-wasi on the first start with a given cache
   * dir, ≈ 7–13 s; later starts reuse it), checks the sandbox with one small compile, and starts
   * the workers. A missing toolchain does not throw: the runtime reports `unavailable` naming it.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    const started = performance.now();
    try {
      this.#toolchain = await RustToolchain.open({
        logger: this.#logger,
        cacheDir: this.#o.cacheDir,
        paths: this.#o.toolchainPaths,
        compileMemoryLimitMb: this.#o.compileMemoryLimitMb,
      });
      await this.#selfTest(this.#toolchain);
    } catch (error) {
      this.#unavailableReason =
        error instanceof ToolchainUnavailableError ? `The Rust runtime is unavailable: ${error.reason}` : `The Rust runtime is unavailable: ${error instanceof Error ? error.message : String(error)}`;
      this.#logger.error({ err: error }, 'rust runtime: toolchain unavailable');
      this.#toolchain = undefined;
    }
    if (this.#toolchain) {
      this.#pool = new WorkerPool({
        logger: this.#logger,
        workerPath: WORKER_PATH,
        size: this.#o.poolSize,
        // Room for every kept line's newline besides the kept bytes, so that the cut is visible.
        logCapacityBytes: this.#o.maxLogBytes + this.#o.maxLogEntries + 4,
        maxResultBytes: this.#o.maxResultBytes,
        workerHeapMb: this.#o.workerHeapMb,
        modulesPerWorker: this.#o.modulesPerWorker,
      });
      await this.#pool.start();
      this.#logger.info(
        { ms: Math.round(performance.now() - started), toolchain: this.#toolchain.id, workers: this.#o.poolSize },
        'rust runtime started',
      );
    }
    this.#state = 'running';
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    if (this.#inFlight > 0) await waitAtMost(this.#idle.next(), this.#o.stopGraceMs);
    this.#compileAbort.abort();
    for (const next of this.#compileQueue.splice(0)) next();
    await this.#pool?.stop('the Rust runtime stopped');
    this.#pool = undefined;
    this.#modules.clear();
    this.#scripts.clear();
    this.#moduleBytes = 0;
    this.#state = 'stopped';
  }

  health(): RuntimeHealth {
    if (this.#state !== 'running') return { status: 'unavailable', reason: `the Rust runtime is ${this.#state === 'new' ? 'not started' : this.#state}` };
    if (this.#unavailableReason || !this.#toolchain || !this.#pool) return { status: 'unavailable', reason: this.#unavailableReason ?? 'the Rust runtime has no toolchain' };
    const pool = this.#pool.stats;
    return {
      status: 'up',
      details: {
        toolchain: this.#toolchain.id,
        workers: pool.workers,
        busy: pool.busy,
        queued: pool.queued,
        restarts: pool.restarts,
        modules: this.#modules.size,
        module_bytes: this.#moduleBytes,
        compiles: this.#counters.compiles,
        compiles_running: this.#compilesRunning,
        compile_failures: this.#counters.compileFailures,
        store_hits: this.#counters.storeHits,
        memory_hits: this.#counters.memoryHits,
        artifact_loads: this.#counters.artifactLoads,
      },
    };
  }

  /** Counters for tests and operators: how many times rustc actually ran, cache hits, etc. */
  get counters(): Readonly<RustRuntimeCounters> {
    return { ...this.#counters };
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const toolchain = this.#assertAvailable();
    this.#inFlight++;
    const started = performance.now();
    try {
      if (typeof request.source !== 'string') return { ok: false, error: { kind: 'InvalidScript', message: 'script source must be a string' } };
      const options = parseCompileOptions(request.compileOptions);
      if ('error' in options) return { ok: false, error: options.error };
      const format = detectSourceFormat(request.source);
      const key =
        format === 'rust'
          ? sha256('rust', toolchain.id, this.#entryVersion, options.optimizationLevel, request.source)
          : sha256(format, request.source);

      const known = this.#modules.get(key);
      if (known) {
        this.#counters.memoryHits++;
        this.#touch(known);
        this.#remember(request.scriptHash, key);
        return { ok: true, artifact: known.bytes, compileMs: roundMs(performance.now() - started) };
      }
      const loaded = await this.#loading.run(key, () => this.#obtain(key, format, request, options.optimizationLevel, toolchain));
      if (!loaded.ok) return { ok: false, error: loaded.error };
      this.#remember(request.scriptHash, key);
      return { ok: true, artifact: loaded.module.bytes, compileMs: roundMs(performance.now() - started) };
    } finally {
      this.#callDone();
    }
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    this.#assertAvailable();
    const pool = this.#pool;
    if (!pool) throw this.#unavailable();
    const key = this.#scripts.peek(request.scriptHash);
    const loaded = key === undefined ? undefined : this.#modules.get(key);
    if (!loaded) return NOT_PREPARED;
    this.#touch(loaded);
    this.#inFlight++;
    try {
      const timeoutMs = Math.max(1, Math.floor(request.timeoutMs));
      const stdin = eventJson(request);
      const outcome = await pool.run({ key: loaded.key, module: loaded.module, stdin, timeoutMs }, timeoutMs);
      this.#counters.executions++;
      return this.#toResult(outcome, loaded, timeoutMs);
    } finally {
      this.#callDone();
    }
  }

  /** No warm state is kept per instance: every invocation is a fresh WebAssembly instance. */
  release(_instanceKey: string): void {}

  // ---- prepare -----------------------------------------------------------------------------------

  async #obtain(key: string, format: SourceFormat, request: PrepareRequest, level: OptimizationLevel, toolchain: RustToolchain): Promise<Loaded> {
    const userLines = request.source.split('\n').length;
    if (request.artifact && request.artifact.byteLength > 0) {
      const fromArtifact = await this.#load(key, format, request.artifact, userLines);
      if (fromArtifact.ok) {
        this.#counters.artifactLoads++;
        return fromArtifact;
      }
      this.#logger.warn({ error: fromArtifact.error.message }, 'rust runtime: the artifact given does not load; building from the source');
    }
    if (format === 'wat') {
      const wasm = await watToWasm(request.source);
      return wasm instanceof Uint8Array ? this.#load(key, format, wasm, userLines) : { ok: false, error: wasm };
    }
    if (format === 'wasm') {
      const wasm = decodeBase64Module(request.source);
      return wasm instanceof Uint8Array ? this.#load(key, format, wasm, userLines) : { ok: false, error: wasm };
    }

    const stored = await this.#o.store.get(key).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'rust runtime: module store unreachable; compiling');
      return undefined;
    });
    if (stored) {
      const fromStore = await this.#load(key, format, stored.module, userLines);
      if (fromStore.ok) {
        this.#counters.storeHits++;
        return fromStore;
      }
      this.#logger.warn({ key, error: fromStore.error.message }, 'rust runtime: stored module does not load; compiling again');
    }

    const compiled = await this.#withCompileSlot(() =>
      toolchain.compile({
        source: `${request.source}${request.source.endsWith('\n') ? '' : '\n'}${this.#entrySource}`,
        optimizationLevel: level,
        userLines,
        timeoutMs: this.#o.compileTimeoutMs,
        signal: this.#compileAbort.signal,
      }),
    ).catch((error: unknown) => {
      if (this.#state !== 'running') throw this.#unavailable();
      this.#logger.error({ err: error }, 'rust runtime: compile failed');
      throw new ServiceError('INTERNAL_ERROR', 'the Rust runtime failed to run the compiler');
    });
    this.#counters.compiles++;
    if (!compiled.ok) {
      this.#counters.compileFailures++;
      return { ok: false, error: compiled.error };
    }
    this.#logger.debug({ key, ms: Math.round(compiled.durationMs), bytes: compiled.wasm.byteLength, level }, 'rust runtime: compiled');
    const loaded = await this.#load(key, format, compiled.wasm, userLines);
    if (loaded.ok) {
      await this.#o.store.put(key, { module: compiled.wasm, toolchain: toolchain.id }).catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'rust runtime: could not keep the module in the store');
      });
    }
    return loaded;
  }

  /** Caps the module's memory and tables, compiles it for V8 and checks what it imports and exports. */
  async #load(key: string, format: SourceFormat, bytes: Uint8Array, userLines: number): Promise<Loaded> {
    const maxPages = Math.floor((this.#o.memoryLimitMb * 1024 * 1024) / WASM_PAGE_BYTES);
    const capped = boundModule(bytes, maxPages);
    if (!(capped instanceof Uint8Array)) return { ok: false, error: capped };
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(capped);
    } catch (error) {
      return { ok: false, error: { kind: 'InvalidModule', message: error instanceof Error ? error.message : String(error) } };
    }
    const problem = checkInterface(module);
    if (problem) return { ok: false, error: { kind: 'InvalidModule', message: problem } };
    const loaded: LoadedModule = { key, format, module, bytes: bytes.slice(), userLines };
    this.#keep(loaded);
    return { ok: true, module: loaded };
  }

  async #withCompileSlot<T>(work: () => Promise<T>): Promise<T> {
    if (this.#compilesRunning >= this.#o.maxConcurrentCompiles) {
      await new Promise<void>((resolve) => this.#compileQueue.push(resolve));
    }
    if (this.#state !== 'running') throw this.#unavailable();
    this.#compilesRunning++;
    try {
      return await work();
    } finally {
      this.#compilesRunning--;
      this.#compileQueue.shift()?.();
    }
  }

  /** The smallest real compile, at start: proves the toolchain and the sandbox work here. */
  async #selfTest(toolchain: RustToolchain): Promise<void> {
    const source = 'pub fn handler(event: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value, String> {\n    Ok(serde_json::Value::from(event.len()))\n}\n';
    const outcome = await toolchain.compile({
      source: `${source}${this.#entrySource}`,
      optimizationLevel: 'debug',
      userLines: 3,
      timeoutMs: this.#o.compileTimeoutMs,
    });
    if (!outcome.ok) throw new Error(`the sandboxed test compile failed: ${outcome.error.message}\n${outcome.error.diagnostics ?? ''}`);
    const module = await WebAssembly.compile(outcome.wasm);
    const problem = checkInterface(module);
    if (problem) throw new Error(`the test module does not fit the runner: ${problem}`);
  }

  // ---- module cache ------------------------------------------------------------------------------

  #keep(loaded: LoadedModule): void {
    const previous = this.#modules.get(loaded.key);
    if (previous) {
      this.#modules.delete(loaded.key);
      this.#moduleBytes -= previous.bytes.byteLength;
    }
    this.#modules.set(loaded.key, loaded);
    this.#moduleBytes += loaded.bytes.byteLength;
    while (this.#modules.size > this.#o.maxModules || (this.#moduleBytes > this.#o.maxModuleBytes && this.#modules.size > 1)) {
      const oldest = this.#modules.values().next().value;
      if (!oldest) break;
      this.#modules.delete(oldest.key);
      this.#moduleBytes -= oldest.bytes.byteLength;
      this.#pool?.forget(oldest.key);
    }
  }

  #touch(loaded: LoadedModule): void {
    this.#modules.delete(loaded.key);
    this.#modules.set(loaded.key, loaded);
  }

  #remember(scriptHash: string, key: string): void {
    this.#scripts.set(scriptHash, key);
  }

  // ---- results -----------------------------------------------------------------------------------

  #toResult(outcome: JobOutcome, loaded: LoadedModule, timeoutMs: number): InvocationResult {
    const logs = collectLogs(outcome.output, this.#o.maxLogEntries, this.#o.maxLogBytes);
    const stats: InvocationStats = outcome.memoryBytes === undefined ? { durationMs: roundMs(outcome.durationMs) } : { durationMs: roundMs(outcome.durationMs), memoryUsageBytes: outcome.memoryBytes };
    switch (outcome.kind) {
      case 'ok': {
        if (outcome.result.trim() === '') {
          return { status: 'error', error: { name: 'InvalidResult', message: 'the module wrote no result on stdout (it must write the result as JSON)' }, logs, stats };
        }
        try {
          return { status: 'ok', result: JSON.parse(outcome.result) as unknown, logs, stats };
        } catch {
          return { status: 'error', error: { name: 'InvalidResult', message: `the module's output is not JSON: ${outcome.result.slice(0, 200)}` }, logs, stats };
        }
      }
      case 'error':
        return { status: 'error', error: toScriptError(outcome.error, loaded.userLines), logs, stats };
      case 'memory':
        return { status: 'memory_limit', limitBytes: this.#o.memoryLimitMb * 1024 * 1024, message: `script exceeded the memory limit of ${this.#o.memoryLimitMb} MiB: ${outcome.message}`, logs, stats };
      case 'output_limit':
        return {
          status: 'output_limit',
          limitBytes: this.#o.maxResultBytes,
          message: `result is ${outcome.bytes > this.#o.maxResultBytes ? `more than ${this.#o.maxResultBytes}` : outcome.bytes} bytes of JSON, over the limit of ${this.#o.maxResultBytes} bytes`,
          logs,
          stats,
        };
      case 'timeout':
        return { status: 'timeout', limitMs: timeoutMs, logs, stats };
      case 'crashed':
        return { status: 'error', error: { name: 'WorkerCrash', message: `the invocation ended its worker: ${outcome.message}` }, logs, stats };
    }
  }

  // ---- state -------------------------------------------------------------------------------------

  #assertAvailable(): RustToolchain {
    if (this.#state !== 'running') throw this.#unavailable();
    if (this.#unavailableReason || !this.#toolchain) {
      throw new ServiceError('RUNTIME_UNAVAILABLE', this.#unavailableReason ?? 'The Rust runtime has no toolchain', { language: 'rust' });
    }
    return this.#toolchain;
  }

  #unavailable(): ServiceError {
    return new ServiceError('RUNTIME_UNAVAILABLE', `the Rust runtime is ${this.#state === 'new' ? 'not started' : this.#state}`, { language: 'rust' });
  }

  #callDone(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#idle.notify();
  }
}

function parseCompileOptions(options: Readonly<Record<string, unknown>> | undefined): { optimizationLevel: OptimizationLevel } | { error: CompileFailure } {
  if (options === undefined || options === null) return { optimizationLevel: DEFAULT_OPTIMIZATION };
  if (!isPlainObject(options)) return { error: { kind: 'InvalidCompileOptions', message: 'compile_options must be an object' } };
  const unknown = Object.keys(options).filter((name) => name !== 'optimization_level');
  if (unknown.length > 0) {
    return { error: { kind: 'InvalidCompileOptions', message: `unknown compile option${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; Rust accepts only "optimization_level" ("debug" or "release")` } };
  }
  const level = options.optimization_level;
  if (level === undefined) return { optimizationLevel: DEFAULT_OPTIMIZATION };
  if (typeof level !== 'string' || !(OPTIMIZATION_LEVELS as readonly string[]).includes(level)) {
    return { error: { kind: 'InvalidCompileOptions', message: `compile_options.optimization_level must be "debug" or "release", got ${JSON.stringify(level)}` } };
  }
  return { optimizationLevel: level as OptimizationLevel };
}

function toScriptError(text: string, userLines: number): ScriptError {
  let parsed: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(text);
    if (isPlainObject(value)) parsed = value;
  } catch {
    parsed = { message: text };
  }
  const name = typeof parsed.name === 'string' ? parsed.name : 'Error';
  const message = typeof parsed.message === 'string' ? parsed.message : '';
  const inScript = parsed.file === USER_FILE && typeof parsed.line === 'number' && parsed.line <= userLines;
  const line = inScript ? (parsed.line as number) : undefined;
  const column = inScript && typeof parsed.column === 'number' ? parsed.column : undefined;
  const where = typeof parsed.file === 'string' && typeof parsed.line === 'number' ? `${parsed.file}:${parsed.line}:${typeof parsed.column === 'number' ? parsed.column : 0}` : undefined;
  return {
    name,
    message,
    ...(where ? { stack: `${name}: ${message}\n    at ${where}` } : {}),
    ...(line !== undefined ? { line } : {}),
    ...(column !== undefined ? { column } : {}),
  };
}

const logDecoder = new TextDecoder('utf-8');

/**
 * What a script wrote on stdout and stderr, as log lines: at most `maxEntries` lines and
 * `maxBytes` UTF-8 bytes, then one marker line saying what was left out (as the Node.js runtime does).
 */
export function collectLogs(output: RawOutput, maxEntries: number, maxBytes: number): string[] {
  if (output.totalBytes === 0) return [];
  const complete = output.bytes.length >= output.totalBytes;
  const text = logDecoder.decode(output.bytes);
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  if (endsWithNewline) lines.pop();
  // Lines written in all (the last one may lack its newline).
  const totalLines = complete ? lines.length : Math.max(lines.length, output.newlines + (output.endsWithNewline ? 0 : 1));
  const logs: string[] = [];
  let bytes = 0;
  let cut = false;
  for (const raw of lines) {
    if (logs.length >= maxEntries || bytes >= maxBytes) break;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const size = Buffer.byteLength(line, 'utf8');
    if (bytes + size > maxBytes) {
      logs.push(utf8Truncate(line, maxBytes - bytes));
      bytes = maxBytes;
      cut = true;
      break;
    }
    bytes += size;
    logs.push(line);
  }
  // A capture that stopped mid-line kept only the start of its last line.
  if (!complete && !endsWithNewline && logs.length === lines.length) cut = true;
  const dropped = totalLines - logs.length;
  if (dropped > 0 || cut) logs.push(truncationMarker(dropped, { maxLogEntries: maxEntries, maxLogBytes: maxBytes }));
  return logs;
}

export function createRustRuntime(options: Partial<RustRuntimeOptions> & Pick<RustRuntimeOptions, 'logger' | 'store' | 'cacheDir'>): RustRuntime {
  return new RustRuntime({
    ...options,
    compileTimeoutMs: options.compileTimeoutMs ?? RUST_RUNTIME_DEFAULTS.compileTimeoutMs,
    poolSize: options.poolSize ?? RUST_RUNTIME_DEFAULTS.poolSize,
    memoryLimitMb: options.memoryLimitMb ?? RUST_RUNTIME_DEFAULTS.memoryLimitMb,
    maxLogEntries: options.maxLogEntries ?? RUST_RUNTIME_DEFAULTS.maxLogEntries,
    maxLogBytes: options.maxLogBytes ?? RUST_RUNTIME_DEFAULTS.maxLogBytes,
    maxResultBytes: options.maxResultBytes ?? RUST_RUNTIME_DEFAULTS.maxResultBytes,
  });
}
