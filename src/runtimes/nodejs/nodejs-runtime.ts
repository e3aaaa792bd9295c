/**
 * The Node.js runtime: untrusted scripts in V8 isolates (isolated-vm), in this process. A warm
 * instance (session) has a context of its own (warm-contexts.ts) in one of a pool of isolates, each
 * with its own heap limit (isolate-pool.ts). Only the guest bootstrap and the user's code enter a
 * context, and values cross as JSON strings only: a script reaches nothing but its context's
 * built-ins. An isolate runs calls of many sessions one at a time, or several of one well-behaved
 * session at once (pipelining.ts): an isolate that has to be killed takes with it only calls of the
 * session that caused it.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type ivm from 'isolated-vm';

import { waitAtMost } from '../../common/idle.js';
import type { Config } from '../../config/config.js';
import { projectPath } from '../../config/paths.js';
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import type { CompileFailure, ExecuteRequest, InvocationResult, InvocationStats, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from '../runtime.js';
import { guestLogs, guestScriptError } from '../kit/guest-values.js';
import { eventJson, NOT_PREPARED, roundMs } from '../kit/invocation.js';
import type { OutputLimits } from '../kit/output-limits.js';
import { Lifecycle } from '../kit/lifecycle.js';
import { createScriptCache, type ScriptCache } from '../kit/script-cache.js';
import { SingleFlight } from '../kit/single-flight.js';
import { DISPOSE_GRACE_MS, IsolatePool, type Failure, type IsolateSlot, type Waiter } from './isolate-pool.js';
import { PipeliningPolicy, type Conduct } from './pipelining.js';
import { PLATFORM_NAME, platformBundle } from './platform-bundle.js';
import { detectForm, explainCompileError, USER_FILE, wrapSource } from './source-forms.js';
import { readEnvelope, WarmContexts, warmKey, type Envelope, type GuestPrelude, type PreparedScript, type WarmContext } from './warm-contexts.js';

/** The `nodejs` settings (src/config/schema.ts holds their defaults, bounds and meaning) and the output limits. */
export type NodejsRuntimeOptions = Config['nodejs'] & OutputLimits & { readonly logger: Logger };

/** Time to fetch the logs of a call isolated-vm stopped: to run, and (plus DISPOSE_GRACE_MS) to get there behind pipelined calls. */
const LOG_COLLECT_MS = 50;
/** Scripts a spare isolate is warmed with, at most. */
const WARM_SCRIPTS = 3;
/** Runs of a call that keeps being refused, at most. */
const MAX_RUNS = 3;
/** The call did not run (the guest refused it: an invocation of its context is pending; or its isolate was gone): it runs again. */
const REFUSED = Symbol('refused');
/** What isolated-vm rejects a call with when the isolate was disposed before the call started. */
const NEVER_RAN = 'Isolate is disposed';

type Call = Waiter & Readonly<{ key: string; conduct: Conduct; instanceKey: string; json: string }>;

/** The guest prelude's parts (guest/), in the order they run; bootstrap.js last, its value `guestEntry`. */
const GUEST_PARTS = ['intrinsics.js', 'format.js', 'errors.js', 'timers.js', 'bootstrap.js'];

/**
 * The prelude compiled into every context: the platform (platform-bundle.ts) and its parts inside
 * one closure, so that nothing they declare is a global a script could see or replace; its
 * completion value is the bootstrap's entry.
 */
async function guestPrelude(): Promise<string> {
  const [platform, ...parts] = await Promise.all([platformBundle(), ...GUEST_PARTS.map((name) => readFile(projectPath('src', 'runtimes', 'nodejs', 'guest', name), 'utf8'))]);
  // The polyfills keep the (sloppy) mode they were written for; the prelude's own parts are strict.
  const platformValue = `(function () {\n${platform}\nreturn ${PLATFORM_NAME};\n})()`;
  return `(function lambdaGuest(${PLATFORM_NAME}) {\n'use strict';\n${parts.join('\n')}\nreturn guestEntry;\n})(${platformValue});\n`;
}

export class NodejsRuntime implements Runtime {
  readonly language: Language = 'nodejs';

  readonly #o: NodejsRuntimeOptions;
  readonly #life: Lifecycle;
  readonly #policy: PipeliningPolicy;
  readonly #pool: IsolatePool;
  readonly #scripts: ScriptCache<PreparedScript>;
  readonly #preparing = new SingleFlight<string, PrepareResult>();
  readonly #prelude: GuestPrelude = { source: '', cachedData: undefined };
  #nextCallId = 1;
  /** Module scripts whose sessions started most recently (newest first): what a spare isolate is warmed with. */
  #recentModules: string[] = [];

  constructor(options: NodejsRuntimeOptions) {
    const o = (this.#o = options);
    const lifecycle = (this.#life = new Lifecycle({ language: 'nodejs', name: 'the Node.js runtime', logger: o.logger, stopGraceMs: o.stopGraceMs }));
    const policy = (this.#policy = new PipeliningPolicy(o.maxPipelinedPerIsolate));
    // A script that leaves the cache leaves every isolate.
    this.#scripts = createScriptCache<PreparedScript>(o.maxScripts, o.maxScriptBytes, (script) => {
      script.cachedData?.release();
      for (const slot of this.#pool.slots) slot.contexts.forget(script.hash);
    });
    const contexts = (isolate: ivm.Isolate): WarmContexts => new WarmContexts(isolate, { ...o, bootstrap: this.#prelude });
    this.#pool = new IsolatePool({ ...o, lifecycle, policy, contexts, warm: (slot) => this.#warm(slot) });
  }

  start(): Promise<void> {
    return this.#life.start(async () => {
      this.#prelude.cachedData?.release();
      this.#prelude.cachedData = undefined;
      this.#prelude.source = await guestPrelude();
      await this.#pool.start();
      this.#o.logger.info({ isolates: this.#o.poolSize, memoryLimitMb: this.#o.memoryLimitMb }, 'nodejs runtime started');
    });
  }

  stop(): Promise<void> {
    return this.#life.stop({
      drain: () => this.#pool.close(),
      // Disposing an isolate ends its calls, which report RUNTIME_UNAVAILABLE.
      force: () => {
        this.#pool.disposeAll();
        this.#scripts.clear();
      },
    });
  }

  health(): RuntimeHealth {
    const details = { ...this.#pool.details(), scripts: this.#scripts.size, maxPipelinedPerIsolate: this.#policy.maxPipelined };
    const lost = this.#pool.catastrophic;
    return this.#life.notRunning(details) ?? (lost === undefined ? { status: 'up', details } : { status: 'degraded', reason: `isolate failure: ${lost}`, details });
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    this.#life.assertRunning();
    if (this.#scripts.get(request.scriptHash)) return { ok: true, compileMs: 0 };
    // Concurrent prepares of one script share the work.
    return this.#life.track(() => this.#preparing.run(request.scriptHash, () => this.#prepare(request)));
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    this.#life.assertRunning();
    const script = this.#scripts.get(request.scriptHash);
    if (!script) return NOT_PREPARED;
    return this.#life.track(async () => {
      const { instanceKey, scriptHash } = request;
      const conduct = this.#policy.conductOf(instanceKey, scriptHash);
      const call = { key: warmKey(instanceKey, scriptHash), instanceKey, scriptHash, conduct, limitMs: Math.max(1, Math.floor(request.timeoutMs)), json: eventJson(request) };
      for (let run = 1; run <= MAX_RUNS; run++) {
        const result = await this.#pool.run(call, request.timeoutMs, (slot) => this.#invoke(slot, script, call));
        if (result !== REFUSED) return result;
      }
      this.#o.logger.error({ instanceKey }, 'nodejs runtime: call refused again and again');
      throw new ServiceError('INTERNAL_ERROR', 'the Node.js runtime failed to run the script');
    });
  }

  release(instanceKey: string): void {
    this.#policy.forget(instanceKey);
    for (const slot of this.#pool.slots) slot.contexts.release(instanceKey);
  }

  /** Node.js takes no compile options and no artifact: both are ignored if given. */
  async #prepare(request: PrepareRequest): Promise<PrepareResult> {
    const { source, scriptHash: hash } = request;
    if (typeof source !== 'string') return { ok: false, error: { kind: 'InvalidScript', message: 'script source must be a string' } };
    const form = detectForm(source);
    const wrapped = wrapSource(source, form);
    const limitMs = this.#o.prepareTimeoutMs;
    return this.#pool.run({ key: undefined, conduct: undefined, limitMs }, limitMs, async (slot) => {
      const started = performance.now();
      let compiled: ivm.Script;
      try {
        compiled = await slot.isolate.compileScript(wrapped, { filename: USER_FILE, lineOffset: -1, produceCachedData: true });
      } catch (error) {
        if (!slot.alive) return { ok: false, error: this.#prepareLimitFailure(slot, error) };
        const probe = async (text: string): Promise<void> => (await slot.isolate.compileScript(text, { filename: USER_FILE, lineOffset: -1 })).release();
        return { ok: false, error: await explainCompileError(error, source, form, probe) };
      }
      const first = compiled as ivm.Script & ivm.CachedDataResult;
      let script: PreparedScript = { hash, form, wrapped, cachedData: first.cachedData, bytes: wrapped.length * 2 };
      // Only running a module's body says what it exports; it runs in a throwaway context.
      const failure = form === 'module' ? await this.#checkModule(slot, script, compiled).catch((error: unknown) => this.#prepareLimitFailure(slot, error)) : undefined;
      if (failure) {
        compiled.release();
        first.cachedData?.release();
        return { ok: false, error: failure };
      }
      if (form === 'module') script = await this.#richerCodeCache(slot, script);
      slot.contexts.remember(hash, compiled);
      this.#scripts.set(hash, script);
      return { ok: true, compileMs: roundMs(performance.now() - started) };
    });
  }

  /**
   * The code cache of a module whose body has run: compiled again in the same isolate, V8 finds
   * the script in its compilation cache with the functions the body compiled (a bundle's packages),
   * and caches them too, so that the other isolates do not compile them again (a first execute in a
   * new isolate: ~30% less for lodash).
   */
  async #richerCodeCache(slot: IsolateSlot, script: PreparedScript): Promise<PreparedScript> {
    try {
      const again = (await slot.isolate.compileScript(script.wrapped, { filename: USER_FILE, lineOffset: -1, produceCachedData: true })) as ivm.Script & ivm.CachedDataResult;
      again.release();
      if (!again.cachedData) return script;
      script.cachedData?.release();
      return { ...script, cachedData: again.cachedData };
    } catch {
      return script;
    }
  }

  async #checkModule(slot: IsolateSlot, script: PreparedScript, compiled: ivm.Script): Promise<CompileFailure | undefined> {
    const limitMs = this.#o.prepareTimeoutMs;
    const checked = slot.contexts.check(script, compiled, performance.now() + limitMs);
    const envelope = readEnvelope(await this.#pool.guard(slot, limitMs, checked, () => undefined));
    if (envelope.s === 'ok') return undefined;
    const { name, message, stack, ...position } = guestScriptError(envelope.e);
    if (envelope.s === 'memory') return { kind: 'MemoryLimitError', message: this.#memoryMessage(message) };
    return { kind: name, message: `the script's top-level code failed: ${message}`, ...position, ...(stack !== undefined ? { diagnostics: stack } : {}) };
  }

  #prepareLimitFailure(slot: IsolateSlot, error: unknown): CompileFailure {
    const failure = this.#scriptFailure(slot, this.#pool.classify(slot, error), 'prepare');
    if (failure.kind === 'memory') return { kind: 'MemoryLimitError', message: this.#memoryMessage(failure.message) };
    return { kind: 'TimeoutError', message: `the script's top-level code did not finish within ${this.#o.prepareTimeoutMs} ms` };
  }

  async #invoke(slot: IsolateSlot, script: PreparedScript, call: Call): Promise<InvocationResult | typeof REFUSED> {
    const { key, conduct, limitMs } = call;
    const { contexts } = slot;
    const started = performance.now();
    const deadline = started + limitMs;
    // Calls queued ahead of this one on the isolate may each run up to their own limit first.
    const queuedAheadMs = Math.max(0, slot.inFlightLimitMs - limitMs);
    let warm = contexts.use(key);
    if (!warm && slot.pipelineKey === key) {
      // Placed into a pipeline whose context was dropped since (a call ahead timed out, release):
      // building a new one beside calls still queued would not be one at a time. Place it again.
      if (slot.inFlight > 1) return REFUSED;
      slot.pipelineKey = undefined;
    }
    const id = this.#nextCallId++;
    // The warm path is one async call into the isolate, nothing parsed or compiled.
    const work = (async (): Promise<unknown> => {
      if (!warm) {
        if (script.form === 'module') this.#noteColdStart(script.hash);
        const created = await contexts.create(script, call.instanceKey, deadline);
        if (typeof created === 'string') return created;
        warm = created;
      }
      return contexts.invoke(warm, call.json, id, deadline);
    })();
    // The guest ends a never-settling invocation as a timeout, and the isolate is kept.
    const abortPending = (): void => {
      if (warm) contexts.abort(warm, id, DISPOSE_GRACE_MS).catch(() => undefined);
    };

    let envelope: Envelope;
    let failed = false;
    try {
      const text = await this.#pool.guard(slot, limitMs, work, abortPending, queuedAheadMs);
      if (typeof text !== 'string') throw new Error('guest returned a non-string envelope');
      envelope = readEnvelope(text);
    } catch (error) {
      const failure = this.#pool.classify(slot, error);
      // Queued behind a call that took the isolate down, or sent to one that had just died: it never started.
      if (failure.kind === 'memory' && failure.message === NEVER_RAN) return REFUSED;
      this.#policy.ban(conduct);
      if (failure.kind === 'internal' && warm) contexts.drop(warm);
      const limit = this.#scriptFailure(slot, failure, 'run');
      envelope = limit.kind === 'memory' ? { s: 'memory', e: { message: limit.message } } : { s: 'timeout', l: await this.#logsAfterTimeout(slot, warm, id) };
      failed = true;
    }
    if (envelope.s === 'busy') {
      // An earlier invocation of this context is still pending (it will time out); the guest ran nothing.
      this.#policy.ban(conduct);
      return REFUSED;
    }
    const durationMs = roundMs(performance.now() - started);
    // A failed isolate is not asked for its heap.
    const memoryUsageBytes = failed ? undefined : slot.heapUsed();
    const stats: InvocationStats = memoryUsageBytes === undefined ? { durationMs } : { durationMs, memoryUsageBytes };
    const logs = guestLogs(envelope.l);
    if (envelope.s === 'ok' || envelope.s === 'error' || envelope.s === 'output_limit') {
      // An output_limit counts as slow, whatever its run time.
      this.#policy.record(conduct, envelope.s === 'output_limit' ? undefined : envelope.t);
      if (envelope.s === 'ok') return { status: 'ok', result: envelope.r ?? null, logs, stats };
      if (envelope.s === 'error') return { status: 'error', error: guestScriptError(envelope.e), logs, stats };
      const limitBytes = this.#o.maxResultBytes;
      return { status: 'output_limit', limitBytes, message: `result is ${envelope.n ?? 'more than'} bytes of JSON, over the limit of ${limitBytes} bytes`, logs, stats };
    }
    // A memory kill or a timeout (isolated-vm's, or the guest's abort of an invocation whose promise never settled).
    this.#policy.ban(conduct);
    if (warm) contexts.drop(warm);
    if (envelope.s === 'timeout') return { status: 'timeout', limitMs, logs, stats };
    const message = this.#memoryMessage(guestScriptError(envelope.e).message);
    return { status: 'memory_limit', limitBytes: this.#o.memoryLimitMb * 1024 * 1024, message, logs, stats };
  }

  #noteColdStart(hash: string): void {
    const recent = this.#recentModules.filter((known) => known !== hash);
    recent.unshift(hash);
    this.#recentModules = recent.slice(0, WARM_SCRIPTS);
  }

  /**
   * A spare isolate (isolate-pool.ts) made ready for the next sessions: the prelude compiled; the
   * module bodies of the scripts that started sessions most recently run once each in a throwaway
   * context, as prepare checks them (their top level, under NODEJS_PREPARE_TIMEOUT_MS; no timers
   * there), so that their code is compiled in this isolate too; and a context of the most recent
   * one built ahead, which the next new session of that script takes (its first call a warm one).
   */
  async #warm(slot: IsolateSlot): Promise<void> {
    await slot.contexts.bootstrap();
    const [latest, ...others] = this.#recentModules;
    for (const hash of others) {
      const script = this.#scripts.peek(hash);
      if (!script || !slot.alive || !this.#life.running) continue;
      await slot.contexts.check(script, await slot.contexts.compiled(script), performance.now() + this.#o.prepareTimeoutMs).catch(() => undefined);
    }
    const script = latest === undefined ? undefined : this.#scripts.peek(latest);
    if (script && slot.alive && this.#life.running) await slot.contexts.buildAhead(script, performance.now() + this.#o.prepareTimeoutMs).catch(() => undefined);
  }

  /** After isolated-vm stopped a runaway call the isolate lives on: fetch what the script logged. */
  async #logsAfterTimeout(slot: IsolateSlot, warm: WarmContext | undefined, id: number): Promise<string[]> {
    if (!warm || !slot.alive) return [];
    let logs: string[] = [];
    const collected = slot.contexts.abort(warm, id, LOG_COLLECT_MS).then((text) => {
      logs = guestLogs(typeof text === 'string' ? readEnvelope(text).l : []);
    });
    // isolated-vm's timeout counts from when a call starts running: the host bounds the wait for it to start.
    await waitAtMost(collected.catch(() => undefined), LOG_COLLECT_MS + DISPOSE_GRACE_MS);
    return logs;
  }

  /** An isolate's failure as the script's time or memory limit; a fault of the runtime throws. */
  #scriptFailure(slot: IsolateSlot, failure: Failure, what: 'prepare' | 'run'): Exclude<Failure, { kind: 'internal' }> {
    if (failure.kind !== 'internal') return failure;
    this.#o.logger.error({ err: failure.error, slot: slot.id }, `nodejs runtime: ${what} failed`);
    throw new ServiceError('INTERNAL_ERROR', `the Node.js runtime failed to ${what} the script`);
  }

  #memoryMessage(detail: string): string {
    return `script exceeded the memory limit of ${this.#o.memoryLimitMb} MiB (${this.#o.memoryLimitMb * 1024 * 1024} bytes)${detail ? `: ${detail}` : ''}`;
  }
}
