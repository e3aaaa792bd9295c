/**
 * The Node.js runtime: runs untrusted scripts in V8 isolates (isolated-vm), in this process.
 *
 * Isolation: every warm instance (session) gets its own V8 Context, inside one of a small pool of
 * isolates, each with its own heap limit. The guest side (`guest/bootstrap.js`) is the only code
 * put into a context besides the user's; no host function, reference or module ever crosses into
 * an isolate, and values cross only as strings (JSON), so a script can reach nothing but its own
 * context's built-ins.
 *
 * Scheduling, decided on the host. An isolate runs either calls of many instances one at a time
 * (exclusive), or several calls of ONE warm context at once (pipelined): isolated-vm queues them on
 * the isolate's thread and runs them back to back, which costs a fraction of one thread hand-off per
 * call. Pipelining is what a fast, hot session gets; everything else runs one at a time, so that an
 * isolate that has to be killed (memory limit, runaway script) takes with it only the call it was
 * running, or, when pipelined, that call and the calls of the same session queued behind it, never
 * another session's.
 *
 * The rules (see #place, #invoke and #recordConduct):
 * - Only calls of the same context (instanceKey + scriptHash) share an isolate's queue; an isolate
 *   running calls of one session is busy for every other session.
 * - A session's calls are pipelined only while it behaves: its last PIPELINE_AFTER_FAST_CALLS
 *   invocations in a row ended (ok or a thrown error) each in under 2 ms by the guest's own clock
 *   (FAST_CALL_MS), and it never timed out, hit the memory limit, failed inside the runtime or left
 *   an invocation pending past its own call. A slow call (or an output_limit) only restarts the
 *   count; any of the others bans pipelining for the session for good (kept per instanceKey +
 *   scriptHash until `release`, in an LRU of MAX_CONDUCT_SESSIONS sessions). A new session starts
 *   one at a time, and the call that builds a context always runs alone.
 * - A hot call joins the isolate already running its context if that has room (the fullest such
 *   one, up to maxPipelinedPerIsolate); only when none has room does it take an idle isolate, grow
 *   the pool, or wait, like any other call. Calls that wait are served oldest first, and while the
 *   oldest waiting call needs an idle isolate, no later call may join a pipeline: pipelines then
 *   drain within a few milliseconds and free their isolates, so a hot session cannot starve others.
 * - The guest refuses (without running anything) an invocation that arrives while an earlier one
 *   of the same context is still pending; such a call runs again, one at a time. So do the calls
 *   queued behind one that took its isolate down with it (memory limit): they never started.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import ivm from 'isolated-vm';
import { LRUCache } from 'lru-cache';

import { IdleWaiters, waitAtMost } from '../../common/idle.js';
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import type {
  CompileFailure,
  ExecuteRequest,
  InvocationResult,
  Language,
  PrepareRequest,
  PrepareResult,
  Runtime,
  RuntimeHealth,
} from '../runtime.js';
import { errorMessage, eventJson, NOT_PREPARED, OUTPUT_LIMIT_DEFAULTS, roundMs } from '../kit/invocation.js';
import { DeadlineQueue } from '../kit/deadline-queue.js';
import { SingleFlight } from '../kit/single-flight.js';
import { createScriptCache, type ScriptCache } from '../kit/script-cache.js';
import { describeCompileFailure, lastClosingBrace, parseCompileError } from './compile-errors.js';
import { guestLogs, guestScriptError } from '../kit/guest-values.js';
import { parseEnvelope, readEnvelope, type Envelope, type EntryReference } from './guest-protocol.js';
import { detectForm, normalizeSource, USER_FILE, wrapSource, type ScriptForm } from './source-forms.js';

export interface NodejsRuntimeOptions {
  logger: Logger;
  /** Isolates kept warm (default 2). */
  poolSize: number;
  /** The pool grows up to this many isolates while all are busy (default 8). */
  maxPoolSize: number;
  /** Heap limit of each isolate, in MiB (default 64, isolated-vm's minimum is 8). */
  memoryLimitMb: number;
  /** Log lines kept per invocation (default 100); when lines are dropped or cut, one marker line follows them. */
  maxLogEntries: number;
  /** UTF-8 bytes of log lines kept per invocation (default 65536), the truncation marker aside. */
  maxLogBytes: number;
  /** A result whose JSON is bigger than this is refused with `output_limit` (default 1 MiB). */
  maxResultBytes: number;
  /**
   * Warm contexts kept per isolate (default 1: every warm session has an isolate, and so a heap
   * limit, of its own; sessions sharing an isolate shared its limit, and one was stopped for
   * memory the others used). An idle isolate costs about 1 MiB.
   */
  contextsPerIsolate?: number;
  /** LRU bound of prepared scripts (default 1000). */
  maxScripts?: number;
  /** LRU bound of the total size of prepared scripts, in bytes (default 64 MiB). */
  maxScriptBytes?: number;
  /** Time allowed to a module's top-level code when `prepare` checks what it exports (default 2000 ms). */
  prepareTimeoutMs?: number;
  /** How long `stop` waits for in-flight calls before disposing the isolates (default 5000 ms). */
  stopGraceMs?: number;
  /** Isolates above `poolSize` idle this long are disposed, with the warm session they hold (default 300000 ms). */
  idleIsolateMs?: number;
  /**
   * Calls of one well-behaved warm context that may be queued on its isolate at once (default 8;
   * 1 runs every call alone). See "Scheduling" above.
   */
  maxPipelinedPerIsolate?: number;
}

export const NODEJS_RUNTIME_DEFAULTS = {
  poolSize: 2,
  maxPoolSize: 8,
  memoryLimitMb: 64,
  ...OUTPUT_LIMIT_DEFAULTS,
  contextsPerIsolate: 1,
  maxScripts: 1000,
  maxScriptBytes: 64 * 1024 * 1024,
  prepareTimeoutMs: 2000,
  stopGraceMs: 5000,
  idleIsolateMs: 300_000,
  maxPipelinedPerIsolate: 8,
} as const;

/** The file name user code carries in stack traces and compile errors. */
const BOOTSTRAP_FILE = 'lambda-bootstrap.js';

/**
 * isolated-vm enforces `timeout` itself (it also covers microtasks run by the same call). The host
 * timers are the backstop for what it cannot see: a promise that never settles leaves the isolate
 * idle, so after this grace the host asks the guest to abort the pending invocation...
 */
const ABORT_GRACE_MS = 50;
/** ...and if the isolate does not even answer that, it is disposed and replaced. */
const DISPOSE_GRACE_MS = 250;
/**
 * Time allowed to fetch the logs of a call isolated-vm stopped: to run in the isolate, and (plus
 * DISPOSE_GRACE_MS) to get there, behind calls pipelined after it and a busy event loop.
 */
const LOG_COLLECT_MS = 50;
/** Heap statistics need the isolate's lock (≈15 µs); sample them at most this often per isolate. */
const HEAP_SAMPLE_MS = 100;
/** Compiled scripts kept per isolate (they are cheap to rebuild from the cached data). */
const COMPILED_SCRIPTS_PER_ISOLATE = 200;
/** A session's calls are pipelined once this many invocations in a row were fast... */
const PIPELINE_AFTER_FAST_CALLS = 4;
/**
 * ...i.e. ran at most this many whole milliseconds by the guest's clock (`Date.now`, which the
 * host's event-loop lag cannot inflate): 1 means under 2 ms.
 */
const FAST_CALL_MS = 1;
/** Sessions whose conduct is remembered (LRU); a forgotten one earns pipelining again. */
const MAX_CONDUCT_SESSIONS = 10_000;
/** How many times a call refused by the guest (see `invoke` in the guest) is run again. */
const MAX_REFUSALS = 3;

interface PreparedScript {
  readonly hash: string;
  readonly form: ScriptForm;
  readonly wrapped: string;
  /** V8 code cache produced by the first compile; speeds the compile in the other isolates. */
  readonly cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined;
  readonly bytes: number;
}

interface WarmContext {
  readonly key: string;
  readonly instanceKey: string;
  readonly scriptHash: string;
  readonly context: ivm.Context;
  readonly entry: EntryReference;
  /** Calls running (or queued on the isolate) in this context. */
  inFlight: number;
  /** `release` came while the context was running; drop it when its last call ends. */
  released: boolean;
  /** Taken out of its slot; its V8 handles are released when its last call ends. */
  dropped: boolean;
}

/** How a session's calls have behaved: decides whether they may be pipelined. */
interface Conduct {
  fastStreak: number;
  /** Timed out, hit the memory limit, failed in the runtime or left an invocation pending. */
  banned: boolean;
}

type DisposeReason = 'memory' | 'timeout' | 'stop' | 'idle';

class IsolateSlot {
  readonly isolate: ivm.Isolate;
  /** Calls (and prepares) running or queued on this isolate. */
  inFlight = 0;
  /** Sum of the time limits of those calls: how long a newly queued call may wait to start. */
  inFlightLimitMs = 0;
  /** The warm key of the context whose calls are pipelined here; undefined when exclusive or idle. */
  pipelineKey: string | undefined;
  disposeReason: DisposeReason | undefined;
  /** Insertion order is recency order: a context is re-inserted each time it is used. */
  readonly contexts = new Map<string, WarmContext>();
  readonly compiled = new Map<string, ivm.Script>();
  bootstrap: ivm.Script | undefined;
  heapUsed = 0;
  heapSampledAt = Number.NEGATIVE_INFINITY;
  idleSince = performance.now();

  constructor(
    readonly id: number,
    isolate: ivm.Isolate,
  ) {
    this.isolate = isolate;
  }

  get alive(): boolean {
    return this.disposeReason === undefined && !this.isolate.isDisposed;
  }

  get busy(): boolean {
    return this.inFlight > 0;
  }
}

/** A call waiting for an isolate: what #place needs to place it. */
interface Waiter {
  readonly key: string | undefined;
  readonly conduct: Conduct | undefined;
  readonly limitMs: number;
}

/**
 * The call did not run: the guest refused it (see `invoke` in the guest), or its isolate was gone
 * before it started. Run it again. (A script has no effect outside its own context, so even a
 * call that had started could run again safely; these never did.)
 */
const REFUSED = Symbol('refused');
/** What isolated-vm rejects a call with when the isolate was disposed before the call started. */
const NEVER_RAN = 'Isolate is disposed';

/** The host-side deadline passed and the isolate was disposed. */
class HardTimeout extends Error {}

/** What went wrong in an isolate, read from the error isolated-vm raised. */
type Failure = { kind: 'timeout' } | { kind: 'memory'; message: string } | { kind: 'stopped' } | { kind: 'internal'; error: unknown };

function warmKey(instanceKey: string, scriptHash: string): string {
  return `${instanceKey}\u0000${scriptHash}`;
}


function findBootstrapPath(): string {
  const here = new URL('./guest/bootstrap.js', import.meta.url);
  const candidate = fileURLToPath(here);
  if (existsSync(candidate)) return candidate;
  // A tsc build (dist/src/...) does not copy the guest's plain JS; read it from the sources then.
  const fromSources = candidate.replace(/([\\/])dist[\\/]src[\\/]/, '$1src$1');
  if (existsSync(fromSources)) return fromSources;
  throw new Error(`guest bootstrap not found at ${candidate} (copy src/runtimes/nodejs/guest next to the built runtime)`);
}

export class NodejsRuntime implements Runtime {
  readonly language: Language = 'nodejs';

  readonly #logger: Logger;
  readonly #poolSize: number;
  readonly #maxPoolSize: number;
  readonly #memoryLimitMb: number;
  readonly #maxLogEntries: number;
  readonly #maxLogBytes: number;
  readonly #maxResultBytes: number;
  readonly #contextsPerIsolate: number;
  readonly #prepareTimeoutMs: number;
  readonly #stopGraceMs: number;
  readonly #idleIsolateMs: number;
  readonly #maxPipelined: number;

  #bootstrapSource = '';
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #slots: IsolateSlot[] = [];
  #nextSlotId = 1;
  readonly #queue = new DeadlineQueue<Waiter, IsolateSlot>();
  #restarts = 0;
  #catastrophic: string | undefined;
  #reaper: NodeJS.Timeout | undefined;
  readonly #idle = new IdleWaiters();
  #dispatching = false;
  #redispatch = false;
  #nextCallId = 1;
  /** instanceKey -> scriptHash -> conduct, the MAX_CONDUCT_SESSIONS most recently used sessions. */
  readonly #conduct = new LRUCache<string, Map<string, Conduct>>({ max: MAX_CONDUCT_SESSIONS });

  /** Prepared scripts, least recently used out first (kit/script-cache.ts). */
  readonly #scripts: ScriptCache<PreparedScript>;
  readonly #preparing = new SingleFlight<string, PrepareResult>();

  constructor(options: NodejsRuntimeOptions) {
    this.#logger = options.logger;
    this.#poolSize = Math.max(1, options.poolSize);
    this.#maxPoolSize = Math.max(this.#poolSize, options.maxPoolSize);
    this.#memoryLimitMb = Math.max(8, options.memoryLimitMb);
    this.#maxLogEntries = Math.max(0, options.maxLogEntries);
    this.#maxLogBytes = Math.max(0, options.maxLogBytes);
    this.#maxResultBytes = Math.max(1, options.maxResultBytes);
    this.#contextsPerIsolate = Math.max(1, options.contextsPerIsolate ?? NODEJS_RUNTIME_DEFAULTS.contextsPerIsolate);
    this.#scripts = createScriptCache<PreparedScript>(
      Math.max(1, options.maxScripts ?? NODEJS_RUNTIME_DEFAULTS.maxScripts),
      Math.max(1, options.maxScriptBytes ?? NODEJS_RUNTIME_DEFAULTS.maxScriptBytes),
      (script) => this.#forgetScript(script),
    );
    this.#prepareTimeoutMs = Math.max(1, options.prepareTimeoutMs ?? NODEJS_RUNTIME_DEFAULTS.prepareTimeoutMs);
    this.#stopGraceMs = Math.max(0, options.stopGraceMs ?? NODEJS_RUNTIME_DEFAULTS.stopGraceMs);
    this.#idleIsolateMs = Math.max(1000, options.idleIsolateMs ?? NODEJS_RUNTIME_DEFAULTS.idleIsolateMs);
    this.#maxPipelined = Math.max(1, Math.floor(options.maxPipelinedPerIsolate ?? NODEJS_RUNTIME_DEFAULTS.maxPipelinedPerIsolate));
  }

  get #memoryLimitBytes(): number {
    return this.#memoryLimitMb * 1024 * 1024;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`nodejs runtime cannot start: it is ${this.#state}`);
    this.#state = 'starting';
    try {
      this.#bootstrapSource = await readFile(findBootstrapPath(), 'utf8');
      for (let i = 0; i < this.#poolSize; i++) this.#addSlot();
      // Check once that the guest compiles, so a broken deployment fails at start, not per call.
      const first = this.#slots[0];
      if (first) first.bootstrap = await first.isolate.compileScript(this.#bootstrapSource, { filename: BOOTSTRAP_FILE });
    } catch (error) {
      for (const slot of [...this.#slots]) this.#disposeIsolate(slot, 'stop');
      this.#slots = [];
      this.#state = 'stopped';
      throw error;
    }
    this.#reaper = setInterval(() => this.#reapIdleIsolates(), Math.min(this.#idleIsolateMs, 30_000));
    this.#reaper.unref();
    this.#state = 'running';
    this.#logger.info({ isolates: this.#poolSize, memoryLimitMb: this.#memoryLimitMb }, 'nodejs runtime started');
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    if (this.#reaper) clearInterval(this.#reaper);
    this.#queue.rejectAll(() => this.#unavailable());
    // Graceful: in-flight calls may finish (each is bounded by its own timeout)...
    if (this.#slots.some((slot) => slot.busy)) await waitAtMost(this.#idle.next(), this.#stopGraceMs);
    // ...then forced: disposing an isolate ends its call, which reports RUNTIME_UNAVAILABLE.
    for (const slot of [...this.#slots]) this.#disposeIsolate(slot, 'stop');
    this.#slots = [];
    this.#scripts.clear();
    this.#conduct.clear();
    this.#state = 'stopped';
    this.#logger.info('nodejs runtime stopped');
  }

  health(): RuntimeHealth {
    const details = {
      isolates: this.#slots.length,
      busy: this.#slots.filter((slot) => slot.busy).length,
      /** Calls running or queued on the isolates, in all. */
      inFlight: this.#slots.reduce((sum, slot) => sum + slot.inFlight, 0),
      queued: this.#queue.length,
      restarts: this.#restarts,
      scripts: this.#scripts.size,
      contexts: this.#slots.reduce((sum, slot) => sum + slot.contexts.size, 0),
      maxPipelinedPerIsolate: this.#maxPipelined,
      perIsolate: this.#slots.map((slot) => ({
        id: slot.id,
        inFlight: slot.inFlight,
        pipelined: slot.pipelineKey !== undefined,
        contexts: slot.contexts.size,
      })),
    };
    if (this.#state !== 'running') return { status: 'unavailable', reason: `runtime is ${this.#state}`, details };
    if (this.#catastrophic !== undefined) return { status: 'degraded', reason: `isolate failure: ${this.#catastrophic}`, details };
    return { status: 'up', details };
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    this.#assertRunning();
    const known = this.#scripts.get(request.scriptHash);
    if (known) {
      return { ok: true, compileMs: 0 };
    }
    // Concurrent prepares of one script share the work.
    return this.#preparing.run(request.scriptHash, () => this.#prepare(request));
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    this.#assertRunning();
    const script = this.#scripts.get(request.scriptHash);
    if (!script) return NOT_PREPARED;
    const json = eventJson(request);
    const key = warmKey(request.instanceKey, request.scriptHash);
    const conduct = this.#conductOf(request.instanceKey, request.scriptHash);
    const limitMs = Math.max(1, Math.floor(request.timeoutMs));
    for (let refusals = 0; ; refusals++) {
      this.#assertRunning();
      // The fast path places the call at once, without a turn of the event loop.
      const slot = this.#tryAcquire(key, conduct, limitMs) ?? (await this.#wait(key, conduct, limitMs, request.timeoutMs));
      let result: InvocationResult | typeof REFUSED;
      try {
        result = await this.#invoke(slot, script, request, json, key, conduct);
      } finally {
        this.#releaseSlot(slot, limitMs);
      }
      if (result !== REFUSED) return result;
      if (refusals + 1 >= MAX_REFUSALS) {
        this.#logger.error({ slot: slot.id }, 'nodejs runtime: call refused again and again');
        throw new ServiceError('INTERNAL_ERROR', 'the Node.js runtime failed to run the script');
      }
    }
  }

  release(instanceKey: string): void {
    try {
      this.#conduct.delete(instanceKey);
      for (const slot of this.#slots) {
        for (const warm of [...slot.contexts.values()]) {
          if (warm.instanceKey !== instanceKey) continue;
          if (warm.inFlight > 0) warm.released = true;
          else this.#dropContext(slot, warm);
        }
      }
    } catch (error) {
      this.#logger.warn({ err: error, instanceKey }, 'nodejs runtime: release failed');
    }
  }

  // ---- prepare ---------------------------------------------------------------------------------

  /** Node.js takes no compile options and no artifact: both are ignored if given. */
  async #prepare(request: PrepareRequest): Promise<PrepareResult> {
    if (typeof request.source !== 'string') {
      return { ok: false, error: { kind: 'InvalidScript', message: 'script source must be a string' } };
    }
    const form = detectForm(request.source);
    const wrapped = wrapSource(request.source, form);
    const sourceLines = request.source.split(/\r\n|\r|\n/);
    const slot = this.#tryAcquire(undefined, undefined, this.#prepareTimeoutMs) ?? (await this.#wait(undefined, undefined, this.#prepareTimeoutMs, this.#prepareTimeoutMs));
    const started = performance.now();
    try {
      let compiled: ivm.Script;
      try {
        compiled = await slot.isolate.compileScript(wrapped, { filename: USER_FILE, lineOffset: -1, produceCachedData: true });
      } catch (error) {
        if (!slot.alive || slot.isolate.isDisposed) return { ok: false, error: this.#prepareLimitFailure(slot, error) };
        return { ok: false, error: await this.#compileFailure(slot, error, request.source, form, sourceLines) };
      }
      const script: PreparedScript = {
        hash: request.scriptHash,
        form,
        wrapped,
        cachedData: (compiled as ivm.Script & ivm.CachedDataResult).cachedData,
        bytes: wrapped.length * 2,
      };
      if (form === 'module') {
        // Only running the module body says what it exports; it runs in a throwaway context.
        const failure = await this.#checkModule(slot, script, compiled);
        if (failure) {
          compiled.release();
          script.cachedData?.release();
          return { ok: false, error: failure };
        }
      }
      this.#rememberCompiled(slot, script.hash, compiled);
      this.#scripts.set(script.hash, script);
      return { ok: true, compileMs: roundMs(performance.now() - started) };
    } finally {
      this.#releaseSlot(slot, this.#prepareTimeoutMs);
    }
  }

  async #checkModule(slot: IsolateSlot, script: PreparedScript, compiled: ivm.Script): Promise<CompileFailure | undefined> {
    const deadline = performance.now() + this.#prepareTimeoutMs;
    let context: ivm.Context | undefined;
    let entry: EntryReference | undefined;
    const work = (async (): Promise<string> => {
      context = await slot.isolate.createContext();
      const loaded = await this.#loadModule(slot, context, script, compiled, deadline);
      entry = loaded.entry;
      return loaded.envelope;
    })();
    try {
      const envelope = parseEnvelope(await this.#guard(slot, this.#prepareTimeoutMs, work, () => undefined));
      if (envelope.s === 'ok') return undefined;
      const error = guestScriptError(envelope.e);
      if (envelope.s === 'memory') return { kind: 'MemoryLimitError', message: this.#memoryMessage(error.message) };
      return {
        kind: error.name,
        message: `the script's top-level code failed: ${error.message}`,
        ...(error.line !== undefined ? { line: error.line } : {}),
        ...(error.column !== undefined ? { column: error.column } : {}),
        ...(error.stack !== undefined ? { diagnostics: error.stack } : {}),
      };
    } catch (error) {
      return this.#prepareLimitFailure(slot, error);
    } finally {
      entry?.release();
      context?.release();
    }
  }

  /**
   * A syntax error in the user's coordinates. When V8 stops in the wrapper's closing `})` the
   * script's braces do not balance and V8 names a token the user never wrote; a second compile
   * without the closing (as a function declaration, so an extra `}` ends it cleanly) tells an
   * unclosed block (error at its real place, usually "Unexpected end of input") from an unmatched
   * `}` (compiles). Runs only on this failure path.
   */
  async #compileFailure(slot: IsolateSlot, error: unknown, source: string, form: ScriptForm, sourceLines: readonly string[]): Promise<CompileFailure> {
    const parsed = parseCompileError(error);
    if (parsed.line === undefined || parsed.line <= sourceLines.length) return describeCompileFailure(parsed, sourceLines);
    const end = { line: sourceLines.length, column: (sourceLines[sourceLines.length - 1]?.length ?? 0) + 1 };
    const prefix = form === 'body' ? 'async function check(event, params, context) {\n' : 'function check(exports, require, module, __filename, __dirname) {\n';
    try {
      const probe = await slot.isolate.compileScript(`${prefix}${normalizeSource(source)}\n`, { filename: USER_FILE, lineOffset: -1 });
      probe.release();
      return describeCompileFailure({ name: parsed.name, message: "Unexpected token '}'", ...lastClosingBrace(sourceLines) }, sourceLines);
    } catch (probeError) {
      const second = parseCompileError(probeError);
      if (second.line !== undefined && second.line <= sourceLines.length) return describeCompileFailure(second, sourceLines);
      return describeCompileFailure({ name: parsed.name, message: 'Unexpected end of input', ...end }, sourceLines);
    }
  }

  #prepareLimitFailure(slot: IsolateSlot, error: unknown): CompileFailure {
    const failure = this.#classify(slot, error);
    switch (failure.kind) {
      case 'timeout':
        return { kind: 'TimeoutError', message: `the script's top-level code did not finish within ${this.#prepareTimeoutMs} ms` };
      case 'memory':
        return { kind: 'MemoryLimitError', message: this.#memoryMessage(failure.message) };
      case 'stopped':
        throw this.#unavailable();
      case 'internal':
        this.#logger.error({ err: failure.error }, 'nodejs runtime: prepare failed');
        throw new ServiceError('INTERNAL_ERROR', 'the Node.js runtime failed to prepare the script');
    }
  }

  /** Frees what was built from a script that left the cache in every isolate. */
  #forgetScript(script: PreparedScript): void {
    script.cachedData?.release();
    for (const slot of this.#slots) {
      slot.compiled.get(script.hash)?.release();
      slot.compiled.delete(script.hash);
      for (const warm of [...slot.contexts.values()]) {
        if (warm.scriptHash === script.hash && warm.inFlight === 0) this.#dropContext(slot, warm);
      }
    }
  }

  // ---- execute ---------------------------------------------------------------------------------

  async #invoke(
    slot: IsolateSlot,
    script: PreparedScript,
    request: ExecuteRequest,
    eventJson: string,
    key: string,
    conduct: Conduct,
  ): Promise<InvocationResult | typeof REFUSED> {
    const started = performance.now();
    const timeoutMs = Math.max(1, Math.floor(request.timeoutMs));
    const deadline = started + timeoutMs;
    // Calls queued ahead of this one on the isolate may each run up to their own limit first.
    const queuedAheadMs = Math.max(0, slot.inFlightLimitMs - timeoutMs);
    let warm = slot.contexts.get(key);
    if (warm) {
      // Most recently used last, for the LRU bound.
      slot.contexts.delete(key);
      slot.contexts.set(key, warm);
    } else if (slot.pipelineKey === key) {
      // Placed into a pipeline whose context was dropped since (timeout of a call ahead, release):
      // building a new one beside calls still queued would not be one at a time. Place it again.
      if (slot.inFlight > 1) return REFUSED;
      slot.pipelineKey = undefined;
    }
    const elapsed = (): number => roundMs(performance.now() - started);
    const id = this.#nextCallId++;
    let counted: WarmContext | undefined;

    const call = (target: WarmContext): Promise<unknown> => {
      target.inFlight += 1;
      counted = target;
      return target.entry.apply(undefined, ['invoke', eventJson, id], { result: { promise: true }, timeout: remaining(deadline) });
    };
    let work: Promise<unknown>;
    try {
      // The warm path: one async call, nothing parsed or compiled.
      work = warm
        ? call(warm)
        : (async (): Promise<unknown> => {
            const created = await this.#createContext(slot, script, request.instanceKey, deadline);
            if (typeof created === 'string') return created;
            warm = created;
            return call(created);
          })();
    } catch (error) {
      work = Promise.reject(error instanceof Error ? error : new Error(errorMessage(error)));
    }

    let envelope: Envelope;
    try {
      const text = await this.#guard(slot, timeoutMs, work, () => this.#abortPending(warm, id), queuedAheadMs);
      if (typeof text !== 'string') throw new Error('guest returned a non-string envelope');
      envelope = readEnvelope(text);
    } catch (error) {
      const failure = this.#classify(slot, error);
      if (failure.kind === 'memory' && errorMessage(error) === NEVER_RAN) {
        // Queued behind a call that took the isolate down (a pipelined sibling's memory bomb, which
        // bans the session itself), or sent to an isolate that had just died: this call never
        // started. Run it again.
        return REFUSED;
      }
      if (failure.kind !== 'stopped') conduct.banned = true;
      switch (failure.kind) {
        case 'timeout': {
          const logs = await this.#collectLogsAfterTimeout(slot, warm, id);
          if (warm) this.#dropContext(slot, warm);
          return { status: 'timeout', limitMs: timeoutMs, logs, stats: { durationMs: elapsed() } };
        }
        case 'memory':
          return {
            status: 'memory_limit',
            limitBytes: this.#memoryLimitBytes,
            message: this.#memoryMessage(failure.message),
            logs: [],
            stats: { durationMs: elapsed() },
          };
        case 'stopped':
          throw this.#unavailable();
        case 'internal':
          if (warm) this.#dropContext(slot, warm);
          this.#logger.error({ err: failure.error, slot: slot.id }, 'nodejs runtime: invocation failed');
          throw new ServiceError('INTERNAL_ERROR', 'the Node.js runtime failed to run the script');
      }
    } finally {
      if (counted) {
        counted.inFlight -= 1;
        if (counted.inFlight === 0) {
          if (counted.dropped) this.#freeContext(slot, counted);
          else if (counted.released) this.#dropContext(slot, counted);
        }
      }
    }

    if (envelope.s === 'busy') {
      // An earlier invocation of this context is still pending (it will time out): the guest ran
      // nothing. The session runs one call at a time from now on; this call runs again.
      conduct.banned = true;
      return REFUSED;
    }
    const durationMs = elapsed();
    const memoryUsageBytes = this.#sampleHeap(slot);
    const stats = memoryUsageBytes === undefined ? { durationMs } : { durationMs, memoryUsageBytes };
    const logs = guestLogs(envelope.l);
    switch (envelope.s) {
      case 'ok':
        this.#recordConduct(conduct, envelope.t);
        return { status: 'ok', result: envelope.r ?? null, logs, stats };
      case 'output_limit':
        this.#recordConduct(conduct, undefined);
        return {
          status: 'output_limit',
          limitBytes: this.#maxResultBytes,
          message: `result is ${envelope.n ?? 'more than'} bytes of JSON, over the limit of ${this.#maxResultBytes} bytes`,
          logs,
          stats,
        };
      case 'memory':
        conduct.banned = true;
        if (warm) this.#dropContext(slot, warm);
        return {
          status: 'memory_limit',
          limitBytes: this.#memoryLimitBytes,
          message: this.#memoryMessage(guestScriptError(envelope.e).message),
          logs,
          stats,
        };
      case 'timeout':
        // The host aborted a pending invocation whose promise never settled.
        conduct.banned = true;
        if (warm) this.#dropContext(slot, warm);
        return { status: 'timeout', limitMs: timeoutMs, logs, stats };
      case 'error':
        this.#recordConduct(conduct, envelope.t);
        return { status: 'error', error: guestScriptError(envelope.e), logs, stats };
    }
  }

  // ---- conduct: which sessions may be pipelined ------------------------------------------------

  /** The conduct record of one session's script, created on first use (LRU-bounded). */
  #conductOf(instanceKey: string, scriptHash: string): Conduct {
    // get() makes the session the most recently used; the least recently used one goes beyond the bound.
    let byScript = this.#conduct.get(instanceKey);
    if (!byScript) {
      byScript = new Map();
      this.#conduct.set(instanceKey, byScript);
    }
    let conduct = byScript.get(scriptHash);
    if (!conduct) {
      conduct = { fastStreak: 0, banned: false };
      byScript.set(scriptHash, conduct);
    }
    return conduct;
  }

  /** An invocation ended after `runMs` (whole ms, the guest's clock; undefined: counts as slow). */
  #recordConduct(conduct: Conduct, runMs: unknown): void {
    if (typeof runMs === 'number' && runMs <= FAST_CALL_MS) {
      if (conduct.fastStreak < PIPELINE_AFTER_FAST_CALLS) conduct.fastStreak += 1;
    } else {
      conduct.fastStreak = 0;
    }
  }

  #isHot(conduct: Conduct): boolean {
    return this.#maxPipelined > 1 && !conduct.banned && conduct.fastStreak >= PIPELINE_AFTER_FAST_CALLS;
  }

  /**
   * Builds the warm state of one instance in one isolate: a new context, the guest bootstrap, the
   * user's module body. Returns the load envelope instead when the module body fails.
   */
  async #createContext(slot: IsolateSlot, script: PreparedScript, instanceKey: string, deadline: number): Promise<WarmContext | string> {
    const compiled = await this.#compiledFor(slot, script);
    const context = await slot.isolate.createContext();
    let entry: EntryReference | undefined;
    try {
      const loaded = await this.#loadModule(slot, context, script, compiled, deadline);
      entry = loaded.entry;
      if (parseEnvelope(loaded.envelope).s !== 'ok') {
        entry.release();
        context.release();
        return loaded.envelope;
      }
    } catch (error) {
      entry?.release();
      if (!slot.isolate.isDisposed) context.release();
      throw error;
    }
    const warm: WarmContext = {
      key: warmKey(instanceKey, script.hash),
      instanceKey,
      scriptHash: script.hash,
      context,
      entry,
      inFlight: 0,
      released: false,
      dropped: false,
    };
    slot.contexts.set(warm.key, warm);
    this.#evictContexts(slot);
    return warm;
  }

  async #loadModule(
    slot: IsolateSlot,
    context: ivm.Context,
    script: PreparedScript,
    compiled: ivm.Script,
    deadline: number,
  ): Promise<{ entry: EntryReference; envelope: string }> {
    slot.bootstrap ??= await slot.isolate.compileScript(this.#bootstrapSource, { filename: BOOTSTRAP_FILE });
    const entry = (await slot.bootstrap.run(context, { reference: true, timeout: remaining(deadline) })) as EntryReference;
    try {
      const factory = (await compiled.run(context, { reference: true, timeout: remaining(deadline) })) as ivm.Reference<unknown>;
      const config = JSON.stringify({
        form: script.form,
        maxLogEntries: this.#maxLogEntries,
        maxLogBytes: this.#maxLogBytes,
        maxResultBytes: this.#maxResultBytes,
      });
      const envelope: unknown = await entry.apply(undefined, ['load', factory.derefInto({ release: true }), config], {
        timeout: remaining(deadline),
      });
      if (typeof envelope !== 'string') throw new Error('guest returned a non-string envelope');
      return { entry, envelope };
    } catch (error) {
      entry.release();
      throw error;
    }
  }

  async #compiledFor(slot: IsolateSlot, script: PreparedScript): Promise<ivm.Script> {
    const known = slot.compiled.get(script.hash);
    if (known) {
      slot.compiled.delete(script.hash);
      slot.compiled.set(script.hash, known);
      return known;
    }
    const compiled = await slot.isolate.compileScript(script.wrapped, {
      filename: USER_FILE,
      lineOffset: -1,
      ...(script.cachedData ? { cachedData: script.cachedData } : {}),
    });
    this.#rememberCompiled(slot, script.hash, compiled);
    return compiled;
  }

  #rememberCompiled(slot: IsolateSlot, hash: string, compiled: ivm.Script): void {
    slot.compiled.get(hash)?.release();
    slot.compiled.set(hash, compiled);
    while (slot.compiled.size > COMPILED_SCRIPTS_PER_ISOLATE) {
      const [oldestHash, oldest] = slot.compiled.entries().next().value ?? [];
      if (oldestHash === undefined || !oldest) break;
      oldest.release();
      slot.compiled.delete(oldestHash);
    }
  }

  #evictContexts(slot: IsolateSlot): void {
    if (slot.contexts.size <= this.#contextsPerIsolate) return;
    for (const warm of slot.contexts.values()) {
      if (slot.contexts.size <= this.#contextsPerIsolate) break;
      if (warm.inFlight === 0) this.#dropContext(slot, warm);
    }
  }

  /**
   * Takes a context out of its slot: new calls of its instance get a new one. Its V8 handles are
   * released now, or by its last call still running or queued in it (see #invoke).
   */
  #dropContext(slot: IsolateSlot, warm: WarmContext): void {
    if (warm.dropped) return;
    warm.dropped = true;
    if (slot.contexts.get(warm.key) === warm) slot.contexts.delete(warm.key);
    if (warm.inFlight === 0) this.#freeContext(slot, warm);
  }

  #freeContext(slot: IsolateSlot, warm: WarmContext): void {
    if (slot.isolate.isDisposed) return;
    try {
      warm.entry.release();
      warm.context.release();
    } catch (error) {
      this.#logger.debug({ err: error }, 'nodejs runtime: context release failed');
    }
  }

  /**
   * Runs `work` (calls into `slot`) under the host's own deadline. isolated-vm's `timeout` stops
   * running code; this covers the rest: at `limitMs + ABORT_GRACE_MS` `onSoftDeadline` asks the
   * guest to end a pending invocation, and if the call is still not settled after
   * DISPOSE_GRACE_MS more, the isolate is disposed and replaced. A pipelined call may first wait
   * behind the calls queued ahead of it on the isolate, each bounded by its own limit: their sum,
   * `queuedAheadMs`, delays only that last step, so that waiting never costs the isolate.
   */
  #guard<T>(slot: IsolateSlot, limitMs: number, work: Promise<T>, onSoftDeadline: () => void, queuedAheadMs = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let hardTimer: NodeJS.Timeout | undefined;
      const softTimer = setTimeout(() => {
        onSoftDeadline();
        hardTimer = setTimeout(() => {
          this.#logger.warn({ slot: slot.id, limitMs, queuedAheadMs }, 'nodejs runtime: call did not end after its timeout; disposing its isolate');
          this.#disposeIsolate(slot, 'timeout');
          reject(new HardTimeout('call did not settle after its deadline'));
        }, DISPOSE_GRACE_MS + queuedAheadMs);
      }, limitMs + ABORT_GRACE_MS);
      const done = (): void => {
        clearTimeout(softTimer);
        clearTimeout(hardTimer);
      };
      // Whichever comes first wins; the other side is ignored (a promise settles once).
      work.then(done, done);
      work.then(resolve, reject);
    });
  }

  /** Resolves a never-settling invocation as a timeout without losing the isolate. */
  #abortPending(warm: WarmContext | undefined, id: number): void {
    // The context is not freed while this call is counted in it (see #invoke), even if dropped.
    if (!warm) return;
    warm.entry.apply(undefined, ['abort', id], { timeout: DISPOSE_GRACE_MS }).catch(() => undefined);
  }

  /** After isolated-vm stopped a runaway call the isolate lives on: fetch what the script logged. */
  async #collectLogsAfterTimeout(slot: IsolateSlot, warm: WarmContext | undefined, id: number): Promise<string[]> {
    if (!warm || !slot.alive) return [];
    // isolated-vm's timeout counts from when a call starts running, so a host timer bounds the wait
    // for an isolate that would not even start it.
    let timer: NodeJS.Timeout | undefined;
    const call = warm.entry.apply(undefined, ['abort', id], { timeout: LOG_COLLECT_MS }).then(
      (text: unknown) => (typeof text === 'string' ? guestLogs(parseEnvelope(text).l) : []),
      () => [],
    );
    const gaveUp = new Promise<string[]>((resolve) => {
      timer = setTimeout(() => resolve([]), LOG_COLLECT_MS + DISPOSE_GRACE_MS);
    });
    try {
      return await Promise.race([call, gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  #classify(slot: IsolateSlot, error: unknown): Failure {
    if (slot.disposeReason === 'stop' || (this.#state !== 'running' && slot.isolate.isDisposed)) return { kind: 'stopped' };
    if (slot.disposeReason === 'timeout' || error instanceof HardTimeout) return { kind: 'timeout' };
    const message = errorMessage(error);
    if (message.includes('memory limit') || slot.disposeReason === 'memory' || slot.isolate.isDisposed) {
      // isolated-vm has already disposed the isolate; replace it.
      this.#disposeIsolate(slot, 'memory');
      return { kind: 'memory', message };
    }
    if (message === 'Script execution timed out.') return { kind: 'timeout' };
    return { kind: 'internal', error };
  }

  #memoryMessage(detail: string): string {
    return `script exceeded the memory limit of ${this.#memoryLimitMb} MiB (${this.#memoryLimitBytes} bytes)${detail ? `: ${detail}` : ''}`;
  }

  #sampleHeap(slot: IsolateSlot): number | undefined {
    const now = performance.now();
    if (now - slot.heapSampledAt >= HEAP_SAMPLE_MS && slot.alive) {
      try {
        slot.heapUsed = slot.isolate.getHeapStatisticsSync().used_heap_size;
        slot.heapSampledAt = now;
      } catch {
        return undefined;
      }
    }
    return slot.heapUsed;
  }

  // ---- the pool --------------------------------------------------------------------------------

  #addSlot(): IsolateSlot {
    const id = this.#nextSlotId++;
    const isolate = new ivm.Isolate({
      memoryLimit: this.#memoryLimitMb,
      onCatastrophicError: (message: string) => {
        // isolated-vm lost control of this isolate (e.g. it would not terminate). The process is
        // no longer trustworthy; report it so the operator (or orchestrator) restarts the service.
        this.#catastrophic = message;
        this.#logger.fatal({ slot: id, message }, 'nodejs runtime: catastrophic isolate failure');
      },
    });
    const slot = new IsolateSlot(id, isolate);
    this.#slots.push(slot);
    return slot;
  }

  /**
   * Places one call now if it can go now (see #place); undefined when it must wait (#wait). Calls
   * already waiting go first.
   */
  #tryAcquire(key: string | undefined, conduct: Conduct | undefined, limitMs: number): IsolateSlot | undefined {
    this.#assertRunning();
    if (this.#queue.length > 0) return undefined;
    return this.#place(key, conduct, limitMs);
  }

  /**
   * Picks an isolate for one call. A hot call (see #isHot) joins the isolate already running its
   * context that has room, the fullest such one. Otherwise: an idle isolate that already holds the
   * instance's context (its calls are pipelined there if hot), else an idle one with room for a
   * context (the emptiest), else a new one (up to maxPoolSize), else the idle one used least
   * recently, whose context makes room; the call then runs alone.
   */
  #place(key: string | undefined, conduct: Conduct | undefined, limitMs: number): IsolateSlot | undefined {
    const hot = key !== undefined && conduct !== undefined && this.#isHot(conduct);
    if (hot) {
      let best: IsolateSlot | undefined;
      for (const slot of this.#slots) {
        if (slot.pipelineKey !== key || slot.inFlight >= this.#maxPipelined || !slot.alive) continue;
        if (!isLive(slot.contexts.get(key))) continue;
        if (!best || slot.inFlight > best.inFlight) best = slot;
      }
      if (best) {
        occupy(best, limitMs);
        return best;
      }
    }
    let warm: IsolateSlot | undefined;
    let roomy: IsolateSlot | undefined;
    let stale: IsolateSlot | undefined;
    let dead: IsolateSlot[] | undefined;
    for (const slot of this.#slots) {
      if (slot.busy) continue;
      if (!slot.alive) {
        (dead ??= []).push(slot);
        continue;
      }
      if (key !== undefined && slot.contexts.has(key)) {
        warm = slot;
        break;
      }
      if (slot.contexts.size < this.#contextsPerIsolate) {
        if (!roomy || slot.contexts.size < roomy.contexts.size) roomy = slot;
      } else if (!stale || slot.idleSince < stale.idleSince) {
        stale = slot;
      }
    }
    // Died while idle (isolated-vm can dispose an isolate for memory after a call returned).
    if (dead) for (const slot of dead) this.#disposeIsolate(slot, 'memory');
    const chosen = warm ?? roomy ?? (this.#slots.length < this.#maxPoolSize ? this.#addSlot() : stale);
    if (!chosen) return undefined;
    occupy(chosen, limitMs);
    chosen.pipelineKey = hot && isLive(chosen.contexts.get(key)) ? key : undefined;
    return chosen;
  }

  /**
   * Queues a call until #dispatch places it. A call that waits longer than its own time limit is
   * refused with RUNTIME_UNAVAILABLE: the runtime is saturated, which is not the script's fault
   * (its timeout counts from when it runs).
   */
  #wait(key: string | undefined, conduct: Conduct | undefined, limitMs: number, maxWaitMs: number): Promise<IsolateSlot> {
    const waiting = this.#queue.wait(
      { key, conduct, limitMs },
      maxWaitMs,
      (queued) => new ServiceError('RUNTIME_UNAVAILABLE', `every Node.js isolate stayed busy for ${maxWaitMs} ms`, { queued }),
      // It may have been the call that kept later ones from joining pipelines.
      () => this.#dispatch(),
    );
    this.#dispatch();
    return waiting;
  }

  #releaseSlot(slot: IsolateSlot, limitMs: number): void {
    slot.inFlight -= 1;
    slot.inFlightLimitMs -= limitMs;
    if (slot.inFlight === 0) {
      slot.pipelineKey = undefined;
      slot.inFlightLimitMs = 0;
      slot.idleSince = performance.now();
      if (!slot.alive) this.#retire(slot);
    }
    if (this.#queue.length > 0) this.#dispatch();
    if (this.#idle.waiting && !this.#slots.some((s) => s.busy)) this.#idle.notify();
  }

  /**
   * Places queued calls, oldest first. The first one that cannot be placed needs an idle isolate
   * and there is none: the calls behind it wait too, even those that could join a pipeline, so
   * that pipelines drain and free their isolates instead of being refilled for ever.
   */
  #dispatch(): void {
    if (this.#dispatching) {
      this.#redispatch = true;
      return;
    }
    this.#dispatching = true;
    try {
      do {
        this.#redispatch = false;
        while (this.#queue.length > 0 && this.#state === 'running') {
          const waiter = this.#queue.oldest();
          if (!waiter) break;
          const slot = this.#place(waiter.key, waiter.conduct, waiter.limitMs);
          if (!slot) break;
          this.#queue.handOldest(slot);
        }
      } while (this.#redispatch);
    } finally {
      this.#dispatching = false;
    }
  }

  /** Takes a dead isolate out of the pool and keeps the pool at its warm size. */
  #retire(slot: IsolateSlot): void {
    const index = this.#slots.indexOf(slot);
    if (index === -1) return;
    this.#slots.splice(index, 1);
    slot.contexts.clear();
    slot.compiled.clear();
    slot.bootstrap = undefined;
    if (slot.disposeReason !== 'idle' && slot.disposeReason !== 'stop') this.#restarts += 1;
    if (this.#state === 'running' && this.#slots.length < this.#poolSize) this.#addSlot();
  }

  #disposeIsolate(slot: IsolateSlot, reason: DisposeReason): void {
    slot.disposeReason ??= reason;
    if (reason !== 'stop' && reason !== 'idle') {
      this.#logger.warn({ slot: slot.id, reason: slot.disposeReason }, 'nodejs runtime: isolate disposed, replacing it');
    }
    if (!slot.isolate.isDisposed) {
      try {
        slot.isolate.dispose();
      } catch (error) {
        this.#logger.debug({ err: error }, 'nodejs runtime: dispose failed');
      }
    }
    // A busy isolate is retired when its call returns; an idle one now.
    if (!slot.busy) {
      this.#retire(slot);
      this.#dispatch();
    }
  }

  #reapIdleIsolates(): void {
    const now = performance.now();
    // The isolates with the fewest warm contexts go first: they cost the least to lose.
    for (const slot of [...this.#slots].sort((a, b) => a.contexts.size - b.contexts.size)) {
      if (this.#slots.length <= this.#poolSize) return;
      if (!slot.busy && now - slot.idleSince > this.#idleIsolateMs) this.#disposeIsolate(slot, 'idle');
    }
  }

  #assertRunning(): void {
    if (this.#state !== 'running') throw this.#unavailable();
  }

  #unavailable(): ServiceError {
    return new ServiceError('RUNTIME_UNAVAILABLE', `the Node.js runtime is ${this.#state === 'new' ? 'not started' : this.#state}`);
  }
}

function occupy(slot: IsolateSlot, limitMs: number): void {
  slot.inFlight += 1;
  slot.inFlightLimitMs += limitMs;
}

/** A context new calls may use. */
function isLive(warm: WarmContext | undefined): warm is WarmContext {
  return warm !== undefined && !warm.dropped && !warm.released;
}

function remaining(deadline: number): number {
  return Math.max(1, Math.ceil(deadline - performance.now()));
}

export function createNodejsRuntime(options: Partial<NodejsRuntimeOptions> & { logger: Logger }): NodejsRuntime {
  return new NodejsRuntime({
    ...options,
    poolSize: options.poolSize ?? NODEJS_RUNTIME_DEFAULTS.poolSize,
    maxPoolSize: options.maxPoolSize ?? NODEJS_RUNTIME_DEFAULTS.maxPoolSize,
    memoryLimitMb: options.memoryLimitMb ?? NODEJS_RUNTIME_DEFAULTS.memoryLimitMb,
    maxLogEntries: options.maxLogEntries ?? NODEJS_RUNTIME_DEFAULTS.maxLogEntries,
    maxLogBytes: options.maxLogBytes ?? NODEJS_RUNTIME_DEFAULTS.maxLogBytes,
    maxResultBytes: options.maxResultBytes ?? NODEJS_RUNTIME_DEFAULTS.maxResultBytes,
  });
}
