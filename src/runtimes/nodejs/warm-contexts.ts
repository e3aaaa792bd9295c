/**
 * What one isolate holds for its sessions, and the guest protocol (guest/bootstrap.js) spoken to
 * them: a context per warm instance (bootstrap and module body loaded once), compiled scripts, the
 * compiled bootstrap. Both caches are lru-cache, whose `dispose` frees V8 handles whenever an entry
 * leaves; a context that leaves while calls run in it is freed by the last of them.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import ivm from 'isolated-vm';
import { LRUCache } from 'lru-cache';

import type { Logger } from '../../observability/logger.js';
import type { OutputLimits } from '../kit/output-limits.js';
import { USER_FILE, type ScriptForm } from './source-forms.js';

/** Cheap to rebuild from the cached data. */
const COMPILED_SCRIPTS_PER_ISOLATE = 200;

/** The guest's entry: `load`, `invoke`, `abort`; it answers with envelopes, JSON strings only. */
type EntryReference = ivm.Reference<(op: string, ...args: unknown[]) => string | Promise<string>>;

export interface Envelope {
  s: 'ok' | 'error' | 'memory' | 'output_limit' | 'timeout' | 'busy';
  r?: unknown;
  /** The script's error, for guestScriptError (kit/guest-values.ts). */
  e?: unknown;
  n?: number;
  l?: unknown;
  /** How long the invocation ran, in whole ms of the guest's clock. */
  t?: unknown;
}

/**
 * The guest builds envelopes from strings only, so they always parse; should a script still garble
 * one, that is its own failure, reported to it, not a fault of the service.
 */
export function readEnvelope(text: string): Envelope {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 's' in parsed) return parsed as Envelope;
  } catch {
    // reported below
  }
  return { s: 'error', e: { name: 'Error', message: 'the runtime could not read what the script returned' } };
}

export interface PreparedScript {
  readonly hash: string;
  readonly form: ScriptForm;
  readonly wrapped: string;
  /** V8 code cache of the first compile: the other isolates compile faster with it. */
  readonly cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined;
  readonly bytes: number;
}

export interface WarmContext {
  readonly key: string;
  readonly instanceKey: string;
  readonly scriptHash: string;
  readonly context: ivm.Context;
  readonly entry: EntryReference;
  /** Calls running or queued on the isolate in it. */
  inFlight: number;
  /** Released while calls ran in it: dropped when the last one ends. */
  released: boolean;
  /** Deadlines of its invocations in flight, by id: only these may have their timers fired. */
  readonly deadlines: Map<number, number>;
  /** The host timer that fires an invocation's earliest guest timer: whose, and when. */
  timer: { readonly handle: NodeJS.Timeout; readonly id: number; readonly due: number } | undefined;
}

/** A context whose module body has run, not yet any session's (WarmContexts.buildAhead). */
interface AheadContext {
  readonly scriptHash: string;
  readonly context: ivm.Context;
  readonly entry: EntryReference;
  /** Its timers' wake-up reaches the WarmContext it becomes. */
  readonly made: { warm?: WarmContext };
}

export function warmKey(instanceKey: string, scriptHash: string): string {
  return `${instanceKey}\u0000${scriptHash}`;
}

/** Most random bytes one call of the guest's `random` answers (platform/host.js asks for at most this). */
const MAX_RANDOM_BYTES = 65536;

/** The guest's `random(n)`: n bytes of the host's CSPRNG, as a latin1 string (one character a byte). */
const RANDOM = new ivm.Callback((size: unknown) => {
  const n = typeof size === 'number' && Number.isInteger(size) ? Math.min(Math.max(size, 0), MAX_RANDOM_BYTES) : 0;
  return randomBytes(n).toString('latin1');
});

/** The guest's `clock()`: ms since the context's time origin, in steps of 10 µs (as coarse as a browser's, against timing attacks). */
function clockFrom(origin: number): ivm.Callback {
  return new ivm.Callback(() => Math.floor((performance.now() - origin) * 100) / 100);
}

function remaining(deadline: number): number {
  return Math.max(1, Math.ceil(deadline - performance.now()));
}

/** The guest prelude's source (nodejs-runtime.ts, guestPrelude) and its V8 code cache, shared by the isolates. */
export interface GuestPrelude {
  source: string;
  cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined;
}

const BOOTSTRAP_FILE = 'lambda-bootstrap.js';
/** Time the platform's warm-up has (once per runtime, in its first isolate). */
const WARM_TIMEOUT_MS = 5000;

export interface WarmContextsOptions extends OutputLimits {
  readonly contextsPerIsolate: number;
  readonly bootstrap: GuestPrelude;
  readonly logger: Logger;
}

export class WarmContexts {
  readonly #isolate: ivm.Isolate;
  readonly #o: WarmContextsOptions;
  readonly #contexts: LRUCache<string, WarmContext>;
  readonly #compiled = new LRUCache<string, ivm.Script>({ max: COMPILED_SCRIPTS_PER_ISOLATE, dispose: (script) => script.release() });
  #bootstrap: ivm.Script | undefined;
  /** A context built ahead for the next session of a script, if any (buildAhead). */
  #ahead: AheadContext | undefined;

  constructor(isolate: ivm.Isolate, options: WarmContextsOptions) {
    this.#isolate = isolate;
    this.#o = options;
    this.#contexts = new LRUCache<string, WarmContext>({
      max: options.contextsPerIsolate,
      dispose: (warm) => {
        if (warm.inFlight === 0) this.#free(warm);
      },
    });
  }

  get size(): number {
    return this.#contexts.size;
  }

  /** Whether new calls may use `key`'s context. */
  hasLive(key: string): boolean {
    const warm = this.#contexts.peek(key);
    return warm !== undefined && !warm.released;
  }

  /** `key`'s context, now the most recently used. */
  use(key: string): WarmContext | undefined {
    return this.#contexts.get(key);
  }

  drop(warm: WarmContext): void {
    if (this.#contexts.peek(warm.key) === warm) this.#contexts.delete(warm.key);
  }

  /** Forgets an instance (a context with calls in flight when its last call ends). */
  release(instanceKey: string): void {
    for (const warm of [...this.#contexts.values()]) {
      if (warm.instanceKey !== instanceKey) continue;
      if (warm.inFlight > 0) warm.released = true;
      else this.drop(warm);
    }
  }

  /** A script left the runtime: what was built from it goes, but for contexts running. */
  forget(scriptHash: string): void {
    this.#compiled.delete(scriptHash);
    if (this.#ahead?.scriptHash === scriptHash) {
      this.#free(this.#ahead);
      this.#ahead = undefined;
    }
    for (const warm of [...this.#contexts.values()]) if (warm.scriptHash === scriptHash && warm.inFlight === 0) this.drop(warm);
  }

  /** Runs invocation `id` in `warm`, counted in it until it settles, and drives its timers. */
  invoke(warm: WarmContext, eventJson: string, id: number, deadline: number): Promise<unknown> {
    const running = warm.entry.apply(undefined, ['invoke', eventJson, id], { result: { promise: true }, timeout: remaining(deadline) });
    warm.inFlight += 1;
    warm.deadlines.set(id, deadline);
    return running.finally(() => {
      warm.deadlines.delete(id);
      // Its timer goes with it, even while a call pipelined behind it is in flight.
      if (warm.timer?.id === id) {
        clearTimeout(warm.timer.handle);
        warm.timer = undefined;
      }
      warm.inFlight -= 1;
      if (warm.inFlight > 0) return;
      if (this.#contexts.peek(warm.key) !== warm) this.#free(warm);
      else if (warm.released) this.drop(warm);
    });
  }

  /** Ends invocation `id` as a timeout if it is pending; answers with its envelope. */
  abort(warm: WarmContext, id: number, timeoutMs: number): Promise<unknown> {
    return warm.entry.apply(undefined, ['abort', id], { timeout: timeoutMs });
  }

  /** The prelude compiled in this isolate: from the V8 code cache of the first isolate that compiled it. */
  async bootstrap(): Promise<ivm.Script> {
    if (this.#bootstrap) return this.#bootstrap;
    const prelude = this.#o.bootstrap;
    const cachedData = prelude.cachedData;
    const compiled = await this.#isolate.compileScript(prelude.source, { filename: BOOTSTRAP_FILE, ...(cachedData ? { cachedData } : {}) });
    if (!cachedData && !prelude.cachedData) prelude.cachedData = await this.#warmCodeCache(compiled, prelude.source);
    return (this.#bootstrap ??= compiled);
  }

  /**
   * The prelude's code cache, made after every platform global and built-in was built once in a
   * throwaway context: compiled again, V8 finds the prelude in this isolate's compilation cache
   * with their functions compiled, and caches those too. A new isolate then does not compile the
   * polyfills a script (or a package probing `typeof Buffer`) first touches.
   */
  async #warmCodeCache(compiled: ivm.Script, source: string): Promise<ivm.ExternalCopy<ArrayBuffer> | undefined> {
    const context = await this.#isolate.createContext();
    let entry: EntryReference | undefined;
    try {
      entry = (await compiled.run(context, { reference: true, timeout: WARM_TIMEOUT_MS })) as EntryReference;
      await entry.apply(undefined, ['warm'], { timeout: WARM_TIMEOUT_MS });
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'nodejs runtime: the platform did not warm up; its code cache holds less');
    } finally {
      this.#free({ context, entry });
    }
    const again = (await this.#isolate.compileScript(source, { filename: BOOTSTRAP_FILE, produceCachedData: true })) as ivm.Script & ivm.CachedDataResult;
    again.release();
    return again.cachedData;
  }

  remember(scriptHash: string, compiled: ivm.Script): void {
    this.#compiled.set(scriptHash, compiled);
  }

  /** Builds an instance's context (or takes the one built ahead for its script); answers with the load envelope instead when its module body fails. */
  async create(script: PreparedScript, instanceKey: string, deadline: number): Promise<WarmContext | string> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead?.scriptHash === script.hash) return this.#adopt(ahead, instanceKey);
    // The isolate's room goes to this session.
    if (ahead) this.#free(ahead);
    const built = await this.#build(script, deadline);
    return typeof built === 'string' ? built : this.#adopt(built, instanceKey);
  }

  /** Whether a context of `scriptHash` was built ahead here. */
  hasAhead(scriptHash: string): boolean {
    return this.#ahead?.scriptHash === scriptHash;
  }

  /**
   * Builds a context of `script` ahead of the session that will use it (a spare isolate's warm-up,
   * isolate-pool.ts): its module body runs now, as a new session's would at its first call, and
   * its first call finds it ready. It belongs to no session until one takes it (`create`), and is
   * never given to a second one.
   */
  async buildAhead(script: PreparedScript, deadline: number): Promise<void> {
    if (this.#ahead) this.#free(this.#ahead);
    this.#ahead = undefined;
    const built = await this.#build(script, deadline);
    if (typeof built !== 'string') this.#ahead = built;
  }

  /** `script` compiled in this isolate: kept from before, or compiled now (from its code cache) and kept. */
  async compiled(script: PreparedScript): Promise<ivm.Script> {
    const known = this.#compiled.get(script.hash);
    if (known) return known;
    const compiled = await this.#isolate.compileScript(script.wrapped, { filename: USER_FILE, lineOffset: -1, ...(script.cachedData ? { cachedData: script.cachedData } : {}) });
    this.remember(script.hash, compiled);
    return compiled;
  }

  async #build(script: PreparedScript, deadline: number): Promise<AheadContext | string> {
    const compiled = await this.compiled(script);
    const made: { warm?: WarmContext } = {};
    const wake = new ivm.Callback((id: unknown, delayMs: unknown) => made.warm && this.#wake(made.warm, id, delayMs), { ignored: true });
    const { context, entry, envelope } = await this.#load(script, compiled, deadline, wake);
    if (readEnvelope(envelope).s !== 'ok') {
      this.#free({ context, entry });
      return envelope;
    }
    return { scriptHash: script.hash, context, entry, made };
  }

  #adopt(built: AheadContext, instanceKey: string): WarmContext {
    const { scriptHash, context, entry } = built;
    const warm: WarmContext = { key: warmKey(instanceKey, scriptHash), instanceKey, scriptHash, context, entry, inFlight: 0, released: false, deadlines: new Map(), timer: undefined };
    built.made.warm = warm;
    this.#contexts.set(warm.key, warm);
    return warm;
  }

  /** Runs a module body in a throwaway context: how prepare learns what it exports. */
  async check(script: PreparedScript, compiled: ivm.Script, deadline: number): Promise<string> {
    const loaded = await this.#load(script, compiled, deadline);
    this.#free(loaded);
    return loaded.envelope;
  }

  /** A new context with the bootstrap and the script's module body run in it. */
  async #load(script: PreparedScript, compiled: ivm.Script, deadline: number, wake?: ivm.Callback): Promise<{ context: ivm.Context; entry: EntryReference; envelope: string }> {
    const context = await this.#isolate.createContext();
    let entry: EntryReference | undefined;
    try {
      entry = (await (await this.bootstrap()).run(context, { reference: true, timeout: remaining(deadline) })) as EntryReference;
      const factory = (await compiled.run(context, { reference: true, timeout: remaining(deadline) })) as ivm.Reference<unknown>;
      const { maxLogEntries, maxLogBytes, maxResultBytes } = this.#o;
      const config = JSON.stringify({ form: script.form, maxLogEntries, maxLogBytes, maxResultBytes });
      const envelope: unknown = await entry.apply(undefined, ['load', factory.derefInto({ release: true }), config, wake, RANDOM, clockFrom(performance.now())], { timeout: remaining(deadline) });
      if (typeof envelope !== 'string') throw new Error('guest returned a non-string envelope');
      return { context, entry, envelope };
    } catch (error) {
      this.#free({ context, entry });
      throw error;
    }
  }

  /**
   * The guest asks to be woken when invocation `id`'s earliest timer is due (guest/bootstrap.js).
   * Its numbers are the only thing taken from it: one host timer per context, moved only earlier
   * for the same invocation (another's is replaced: one invocation is pending at a time), never
   * past the invocation's deadline (the call then ends as a timeout by itself).
   */
  #wake(warm: WarmContext, id: unknown, delayMs: unknown): void {
    if (typeof id !== 'number' || typeof delayMs !== 'number' || !(delayMs >= 0)) return;
    const deadline = warm.deadlines.get(id);
    const due = performance.now() + delayMs;
    if (deadline === undefined || due >= deadline || (warm.timer?.id === id && warm.timer.due <= due)) return;
    if (warm.timer) clearTimeout(warm.timer.handle);
    const handle = setTimeout(() => {
      warm.timer = undefined;
      if (warm.deadlines.has(id)) warm.entry.apply(undefined, ['fire', id], { timeout: remaining(deadline) }).catch(() => undefined);
    }, delayMs);
    warm.timer = { handle, id, due };
  }

  #free({ context, entry }: { context: ivm.Context; entry: EntryReference | undefined }): void {
    if (this.#isolate.isDisposed) return;
    try {
      entry?.release();
      context.release();
    } catch (error) {
      this.#o.logger.debug({ err: error }, 'nodejs runtime: context release failed');
    }
  }
}
