/**
 * One language's runtime spread over a set of gRPC endpoints (runtime servers). It is itself a
 * `Runtime`, so the service cannot tell it from an in-process one.
 *
 * - Endpoints come and go (`setEndpoints`, from a static list or from discovery): new ones take
 *   calls after their first good health check; removed ones take no new calls and are closed once
 *   their calls in flight have ended.
 * - Each call picks a healthy endpoint: `least-outstanding` (fewest calls in flight; a session
 *   stays on the endpoint that has its warm state unless that one is clearly busier) or
 *   `round-robin`. An endpoint whose call failed on the transport is ejected at once and comes back
 *   with its next good health check (src/rpc/remote-runtime.ts).
 * - A call that failed before it reached a runtime (connection refused, endpoint closed) is tried
 *   on another endpoint; a call that was running when its endpoint died is not repeated (it may
 *   have done part of its work): it fails with RUNTIME_UNAVAILABLE, a 503.
 * - Scripts travel once per endpoint: the pool remembers what it prepared (bounded by bytes), so
 *   an endpoint that answers `not_prepared` is sent the script, and the artifact it compiled
 *   elsewhere, without a round trip through the caller.
 * - A script that keeps crashing its runtime process (a local one: RUNTIME_ERROR
 *   `sandbox_crashed` of a cause a script can have: a fatal V8 error, its cgroup's OOM kill, a
 *   stalled process; not a kill from outside) is refused for a while: each crash counts against
 *   the scripts whose calls were in flight in that process, shared between them, and one that reaches CRASH_STRIKES within
 *   CRASH_WINDOW_MS gets RUNTIME_ERROR `crash_loop` for QUARANTINE_MS instead of another process.
 */
import { LRUCache } from 'lru-cache';

import type { Config, RuntimeSelectionStrategy } from '../config/config.js';
import { isServiceError, ServiceError } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import type { ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from '../runtimes/runtime.js';
import { isNotRunFailure } from './remote-runtime.js';

/** What the pool needs of an endpoint's client: a Runtime with an address and a cheap status (RemoteRuntime, ProcessRuntime). */
export interface EndpointRuntime extends Runtime {
  readonly address: string;
  status(): RuntimeHealth['status'];
}

export interface RuntimePoolOptions {
  readonly language: Language;
  readonly strategy: RuntimeSelectionStrategy;
  readonly logger: Logger;
  /** Builds the client of one endpoint. */
  readonly connect: (address: string) => EndpointRuntime;
  /** Endpoints at start (a static list); discovery calls setEndpoints later. */
  readonly endpoints?: readonly string[];
  /** Where endpoints come from, for health reasons (e.g. `NODEJS_RUNTIME_URL`, `Service lambda-runtime-nodejs`). */
  readonly origin: string;
  /**
   * `process`: local runtime processes of this service; `remote`: runtime servers elsewhere. Local
   * processes share the machine's cores, so moving a hot session to another buys no CPU, only a
   * second warm state: they keep a session where it is, however busy (its calls run side by side on
   * its process's isolate threads); a remote pool moves it past AFFINITY_SLACK.
   */
  readonly kind: 'process' | 'remote';
  /** Retries and the scripts kept for resending (config `runtimeCalls`). */
  readonly calls: Pick<Config['runtimeCalls'], 'maxAttempts' | 'scriptMemoryBytes'>;
}

export interface EndpointState {
  readonly address: string;
  readonly status: RuntimeHealth['status'];
  /** Calls in flight on it from this pool. */
  readonly outstanding: number;
  readonly reason?: string;
  /** What the endpoint reports of itself (its runtime's details, a process's memory). */
  readonly details?: Readonly<Record<string, unknown>>;
}

interface Member {
  readonly address: string;
  readonly runtime: EndpointRuntime;
  outstanding: number;
  /** Removed from the set: no new calls; closed when the last call in flight ends. */
  draining: boolean;
}

/**
 * A session whose warm endpoint has at most this many more calls in flight than the least busy
 * one stays there: warm state (module globals, a Python worker) is worth a little queueing.
 */
const AFFINITY_SLACK = 4;
const AFFINITY_ENTRIES = 100_000;
/** Crashes (shared among the scripts in flight) after which a script is refused... */
const CRASH_STRIKES = 3;
/** ...when they came within this window... */
const CRASH_WINDOW_MS = 10 * 60_000;
/** ...for this long. */
const QUARANTINE_MS = 10 * 60_000;

interface CrashRecord {
  strikes: number;
  since: number;
  until: number | undefined;
}

export class RuntimePool implements Runtime {
  readonly language: Language;
  readonly #o: RuntimePoolOptions;
  readonly #members = new Map<string, Member>();
  /** Members removed while calls were in flight, closed when those end. */
  readonly #draining = new Set<Member>();
  /** Prepared scripts by hash, for resending to endpoints that lack them. */
  readonly #scripts: LRUCache<string, PrepareRequest>;
  /** Session (instance key) -> the endpoint that has its warm state. */
  readonly #affinity = new LRUCache<string, string>({ max: AFFINITY_ENTRIES });
  readonly #maxAttempts: number;
  readonly #affinitySlack: number;
  /** Scripts whose calls were in flight when a runtime process crashed, by hash. */
  readonly #crashes = new LRUCache<string, CrashRecord>({ max: 10_000 });
  #next = 0;
  #started = false;
  #retries = 0;

  constructor(options: RuntimePoolOptions) {
    this.language = options.language;
    this.#o = options;
    this.#maxAttempts = options.calls.maxAttempts;
    this.#affinitySlack = options.kind === 'process' ? Number.POSITIVE_INFINITY : AFFINITY_SLACK;
    this.#scripts = new LRUCache<string, PrepareRequest>({
      maxSize: options.calls.scriptMemoryBytes,
      sizeCalculation: (r) => Math.max(1, Buffer.byteLength(r.source) + (r.artifact?.byteLength ?? 0)),
    });
    for (const address of options.endpoints ?? []) this.#add(address);
  }

  /** The current endpoint addresses, in the order they were added. */
  get endpoints(): readonly string[] {
    return [...this.#members.keys()];
  }

  /** Calls that were tried again on another endpoint since start. */
  get retries(): number {
    return this.#retries;
  }

  async start(): Promise<void> {
    this.#started = true;
    await Promise.all([...this.#members.values()].map((m) => m.runtime.start()));
  }

  async stop(): Promise<void> {
    this.#started = false;
    const all = [...this.#members.values(), ...this.#draining];
    this.#members.clear();
    this.#draining.clear();
    await Promise.all(all.map((m) => m.runtime.stop()));
  }

  /** Makes the set exactly `addresses`: adds the new, drains the gone. */
  setEndpoints(addresses: readonly string[]): void {
    const wanted = new Set(addresses);
    for (const [address, member] of this.#members) {
      if (!wanted.has(address)) this.#remove(member);
    }
    for (const address of wanted) {
      if (!this.#members.has(address)) this.#add(address);
    }
  }

  /** Each endpoint's health and calls in flight (for /health and /metrics). */
  endpointStates(): EndpointState[] {
    return [...this.#members.values()].map((m) => {
      const h = m.runtime.health();
      return { address: m.address, status: h.status, outstanding: m.outstanding, ...(h.reason ? { reason: h.reason } : {}), ...(h.details ? { details: h.details } : {}) };
    });
  }

  /** `up` when an endpoint is up, `degraded` when one is at least degraded, else `unavailable`; no report built. */
  status(): RuntimeHealth['status'] {
    let best: RuntimeHealth['status'] = 'unavailable';
    for (const member of this.#members.values()) {
      const status = member.runtime.status();
      if (status === 'up') return 'up';
      if (status === 'degraded') best = 'degraded';
    }
    return best;
  }

  health(): RuntimeHealth {
    const endpoints = this.endpointStates();
    const up = endpoints.filter((e) => e.status !== 'unavailable');
    const { kind } = this.#o;
    const quarantined = [...this.#crashes.values()].filter((c) => c.until !== undefined && c.until > Date.now()).length;
    const details = { kind, remote: kind === 'remote', strategy: this.#o.strategy, origin: this.#o.origin, endpoints, retries: this.#retries, quarantined_scripts: quarantined };
    if (endpoints.length === 0) {
      return { status: 'unavailable', reason: `no ${this.language} runtime endpoints (${this.#o.origin})`, details };
    }
    if (up.length === 0) {
      const reasons = endpoints.map((e) => e.reason ?? `${e.address} is ${e.status}`).join('; ');
      return { status: 'unavailable', reason: `every ${this.language} runtime endpoint is unavailable: ${reasons}`, details };
    }
    if (up.length < endpoints.length || up.some((e) => e.status === 'degraded')) {
      return { status: 'degraded', reason: `${endpoints.length - up.length} of ${endpoints.length} ${this.language} runtime endpoints unavailable`, details };
    }
    return { status: 'up', details };
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    this.#assertNotQuarantined(request.scriptHash);
    const result = await this.#withEndpoint(undefined, request.scriptHash, (member) => member.runtime.prepare(request));
    if (result.ok) this.#remember(request, result);
    return result;
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    this.#assertNotQuarantined(request.scriptHash);
    return this.#withEndpoint(request.instanceKey, request.scriptHash, async (member) => {
      const first = await member.runtime.execute(request);
      if (first.status !== 'not_prepared') return first;
      // This endpoint lacks the script (new, restarted, evicted): send it what we prepared elsewhere.
      const known = this.#scripts.get(request.scriptHash);
      if (!known) return first;
      const prepared = await member.runtime.prepare(known);
      if (!prepared.ok) throw new ServiceError('INTERNAL_ERROR', `${this.language} runtime at ${member.address} refused a script another endpoint compiled: ${prepared.error.message}`);
      return member.runtime.execute(request);
    });
  }

  /** Every endpoint may hold the session's warm state: tell them all (fire and forget). */
  release(instanceKey: string): void {
    this.#affinity.delete(instanceKey);
    for (const member of this.#members.values()) member.runtime.release(instanceKey);
  }

  /** Runs `call` on a picked endpoint; a failure before the call ran moves it to another endpoint. */
  async #withEndpoint<T>(instanceKey: string | undefined, scriptHash: string, call: (member: Member) => Promise<T>): Promise<T> {
    const tried = new Set<string>();
    let lastError: ServiceError | undefined;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const member = this.#pick(instanceKey, tried);
      if (!member) break;
      tried.add(member.address);
      member.outstanding++;
      try {
        const result = await call(member);
        if (instanceKey !== undefined) this.#affinity.set(instanceKey, member.address);
        return result;
      } catch (error) {
        if (isSandboxCrash(error)) this.#strike(scriptHash, error);
        if (!isNotRunFailure(error)) throw error;
        lastError = error as ServiceError;
        this.#retries++;
        this.#o.logger.warn({ address: member.address, attempt: attempt + 1, err: error }, `${this.language} call could not reach ${member.address}; trying another endpoint`);
      } finally {
        member.outstanding--;
        if (member.draining && member.outstanding === 0) this.#close(member);
      }
    }
    if (lastError !== undefined) throw lastError;
    const health = this.health();
    throw new ServiceError('RUNTIME_UNAVAILABLE', health.reason ?? `no healthy ${this.language} runtime endpoint`, { language: this.language, endpoints: this.endpoints, notRun: true });
  }

  /** A script's share of a crash of the process its call ran in (shared by the calls in flight there). */
  #strike(scriptHash: string, crash: ServiceError): void {
    const now = Date.now();
    const inFlight = typeof crash.details.in_flight === 'number' && crash.details.in_flight >= 1 ? crash.details.in_flight : 1;
    let record = this.#crashes.get(scriptHash);
    if (!record || now - record.since > CRASH_WINDOW_MS) record = { strikes: 0, since: now, until: undefined };
    record.strikes += 1 / inFlight;
    // Floating point: three calls sharing three crashes add up to 3.
    if (record.strikes >= CRASH_STRIKES - 1e-9) {
      record.until = now + QUARANTINE_MS;
      this.#o.logger.warn({ scriptHash, strikes: record.strikes }, `${this.language} script crashed its runtime process repeatedly; refusing it for ${QUARANTINE_MS / 60_000} minutes`);
    }
    this.#crashes.set(scriptHash, record);
  }

  #assertNotQuarantined(scriptHash: string): void {
    const until = this.#crashes.get(scriptHash)?.until;
    if (until === undefined || until <= Date.now()) return;
    const seconds = Math.ceil((until - Date.now()) / 1000);
    throw new ServiceError(
      'RUNTIME_ERROR',
      `this script crashed its ${this.language} runtime process ${CRASH_STRIKES} times within ${CRASH_WINDOW_MS / 60_000} minutes and is refused until ${new Date(until).toISOString()}`,
      { reason: 'crash_loop', retry_after_seconds: seconds, language: this.language },
    );
  }

  /** A healthy endpoint not yet tried for this call, by the configured strategy; undefined if none. */
  #pick(instanceKey: string | undefined, tried: ReadonlySet<string>): Member | undefined {
    // Endpoints that are up first; degraded ones (a process restarting, whose calls wait) only when no other is up.
    const up: Member[] = [];
    const degraded: Member[] = [];
    for (const member of this.#members.values()) {
      if (tried.has(member.address)) continue;
      const status = member.runtime.status();
      if (status === 'up') up.push(member);
      else if (status === 'degraded') degraded.push(member);
    }
    const candidates = up.length > 0 ? up : degraded;
    if (candidates.length === 0) return undefined;
    const start = this.#next++ % candidates.length;
    if (this.#o.strategy === 'round-robin') return candidates[start];
    // Least outstanding; ties go round robin so idle endpoints share the load.
    let best = candidates[start] as Member;
    for (let i = 1; i < candidates.length; i++) {
      const candidate = candidates[(start + i) % candidates.length] as Member;
      if (candidate.outstanding < best.outstanding) best = candidate;
    }
    if (instanceKey !== undefined) {
      const warm = this.#affinity.get(instanceKey);
      const member = warm === undefined ? undefined : candidates.find((m) => m.address === warm);
      if (member && member.outstanding <= best.outstanding + this.#affinitySlack) return member;
    }
    return best;
  }

  /** Keeps a prepared script (and the artifact it compiled to) for endpoints that lack it. */
  #remember(request: PrepareRequest, result: Extract<PrepareResult, { ok: true }>): void {
    const artifact = result.artifact ?? request.artifact;
    this.#scripts.set(request.scriptHash, {
      scriptHash: request.scriptHash,
      source: request.source,
      ...(request.compileOptions ? { compileOptions: request.compileOptions } : {}),
      ...(artifact ? { artifact } : {}),
    });
  }

  #add(address: string): void {
    const runtime = this.#o.connect(address);
    this.#members.set(address, { address, runtime, outstanding: 0, draining: false });
    this.#o.logger.info({ address, origin: this.#o.origin }, `${this.language} runtime endpoint added`);
    if (this.#started) {
      runtime.start().catch((error: unknown) => this.#o.logger.warn({ err: error, address }, `${this.language} runtime endpoint did not start`));
    }
  }

  #remove(member: Member): void {
    this.#members.delete(member.address);
    member.draining = true;
    this.#o.logger.info({ address: member.address, inFlight: member.outstanding }, `${this.language} runtime endpoint removed`);
    if (member.outstanding === 0) this.#close(member);
    else this.#draining.add(member);
  }

  #close(member: Member): void {
    this.#draining.delete(member);
    member.runtime.stop().catch((error: unknown) => this.#o.logger.debug({ err: error, address: member.address }, 'closing a runtime endpoint failed'));
  }
}

/** A call that failed because the runtime process running it died of what a script can cause (process-runtime.ts). */
function isSandboxCrash(error: unknown): error is ServiceError {
  return isServiceError(error) && error.code === 'RUNTIME_ERROR' && error.details.reason === 'sandbox_crashed' && error.details.counts_against_script === true;
}

export function createRuntimePool(options: RuntimePoolOptions): RuntimePool {
  return new RuntimePool(options);
}
