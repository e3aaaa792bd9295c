/**
 * A `Runtime` in a sandboxed child process of the service (a local runtime process), reached over
 * frames on a socket pair (frame-peer.ts): one endpoint of a RuntimePool, as a gRPC runtime server
 * is (remote-runtime.ts), so balancing, ejection, retries and re-prepare are the pool's, the same
 * for both. This side also supervises the process:
 *
 * - start: launched sandboxed (src/sandbox/runtime-sandbox.ts), in a cgroup where the machine
 *   allows it (src/sandbox/cgroup.ts); ready when it says so.
 * - crash: a process that dies (a V8 abort, the kernel's OOM kill, a signal) fails only its calls in
 *   flight, with RUNTIME_ERROR `details.reason: "sandbox_crashed"` and what killed it; it is started
 *   again at once, then with a growing backoff while it keeps dying (reset once it has stayed up).
 *   Calls that arrive meanwhile wait for it (bounded by their own time limit); the pool sends the
 *   scripts again (a new process holds none).
 * - liveness: it is asked for its health every second; one that does not answer within
 *   UNRESPONSIVE_MS (a stalled event loop), or a call that outlives twice its limit, is killed and
 *   replaced like a crash.
 * - stop: graceful (the runtime stops its calls in its own grace period), then SIGKILL.
 *
 * Everything the process sends is untrusted: frames are bounded, results pass the host's output
 * limits (runtime-wire.ts), errors keep only codes this side accepts, its log lines are bounded in
 * size and rate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

import { isPlainObject } from '../common/plain-object.js';
import { ServiceError, type ErrorCode } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import { eventJson } from '../runtimes/kit/invocation.js';
import type { OutputLimits } from '../runtimes/kit/output-limits.js';
import type { ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, RuntimeHealth } from '../runtimes/runtime.js';
import type { WasmModuleStore } from '../runtimes/rust/wasm-module-store.js';
import type { CgroupLimits, CgroupSupport, ProcessCgroup } from '../sandbox/cgroup.js';
import { FD_CHANNEL, FD_INFO, FD_SECCOMP, joiningCgroup, type RuntimeProcessLaunch } from '../sandbox/runtime-sandbox.js';
import { CallTimedOut, FramePeer, PeerClosed, type FrameMessage } from './frame-peer.js';
import type { EndpointRuntime } from './runtime-pool.js';
import { healthFromWire, invocationResultFromWire, prepareResultFromWire, type WireExecuteResponse, type WirePrepareResponse } from './runtime-wire.js';

export interface ProcessRuntimeOptions {
  readonly language: Language;
  /** The endpoint's name in the pool, /health and /metrics (e.g. `process:nodejs/1`). */
  readonly address: string;
  readonly logger: Logger;
  /** How to start the process (throws RuntimeSandboxUnavailable when it cannot be sandboxed here). */
  readonly launch: () => RuntimeProcessLaunch;
  /** Passed to the process as its one argument (JSON): what it needs, no secret. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly outputLimits: OutputLimits;
  readonly cgroups: CgroupSupport;
  readonly cgroupLimits: CgroupLimits;
  /** The service's module store, which the Rust process reaches through here. */
  readonly store?: WasmModuleStore;
  /** How long a start may take (the Rust process builds its toolchain's crates on a first start). */
  readonly startTimeoutMs: number;
  /** Time the runtime has to end its calls at stop before the process is killed. */
  readonly stopGraceMs: number;
  /** What a prepare may take before the process counts as stuck (a Rust compile, with queueing). */
  readonly prepareTimeoutMs: number;
  /** Largest frame either way (sources, artifacts and results travel whole). */
  readonly maxFrameBytes: number;
  /** How often health is asked (default 1000 ms). */
  readonly healthIntervalMs?: number;
}

/** A process that does not answer its health check for this long is killed and replaced. */
const UNRESPONSIVE_MS = 5000;
/** Added to an execute's own limit (twice: it may wait for a free isolate or worker that long first). */
const EXECUTE_MARGIN_MS = 5000;
const RESTART_BACKOFF_MAX_MS = 5000;
/**
 * A process that stayed up this long is restarted at once when it dies; one that dies sooner
 * (a crash loop: a broken machine, a script its sessions keep sending) waits longer each time.
 */
export const STABLE_MS = 5000;
/** Starts that fail in a row before the endpoint reports itself unavailable. */
const FAILED_STARTS_UNAVAILABLE = 3;
const LOG_LINE_BYTES = 16_384;
const LOG_LINES_PER_SECOND = 200;
const STDERR_KEPT = 4096;
/** Codes a runtime process may answer with; anything else becomes INTERNAL_ERROR. */
const ACCEPTED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['RUNTIME_UNAVAILABLE', 'INVALID_REQUEST', 'INTERNAL_ERROR']);
const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** `unavailable`: it cannot be started here at all (no sandbox), until the operator changes the machine. */
type State = 'new' | 'starting' | 'ready' | 'restarting' | 'unavailable' | 'stopping' | 'stopped';

/**
 * Why a process died. The first four are counted against the scripts that were running in it
 * (runtime-pool.ts refuses a script that keeps doing it); a kill from outside (an operator, the
 * machine's own OOM killer) or an exit of the runtime itself is not.
 */
export type CrashCause = 'fatal_error' | 'out_of_memory' | 'unresponsive' | 'protocol' | 'killed' | 'exited' | 'stopped';
const SCRIPT_CAUSES: ReadonlySet<CrashCause> = new Set<CrashCause>(['fatal_error', 'out_of_memory', 'unresponsive', 'protocol']);
/** How V8 and the C++ runtime end a process on a fatal error (an abort, a trap, a fault), and seccomp's kill. */
const FATAL_SIGNALS: ReadonlySet<string> = new Set(['SIGABRT', 'SIGTRAP', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGSYS']);

interface Kill {
  readonly why: string;
  readonly cause: CrashCause;
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly outOfMemory: boolean;
  /** This side killed it (unresponsive, a call overdue, a protocol violation, stop). */
  readonly killedFor: Kill | undefined;
  readonly stderr: string;
}

/** One incarnation of the process. */
interface Child {
  readonly process: ChildProcess;
  readonly peer: FramePeer;
  readonly cgroup: ProcessCgroup | undefined;
  readonly oomBefore: number;
  readonly exited: Promise<Exit>;
  /** The sandboxed node's pid on the host (from bubblewrap's info), once known. */
  pid: number | undefined;
  killedFor: Kill | undefined;
  readyAt: number | undefined;
  stderr: string;
  /** Prepares and executes in flight in it (health checks aside). */
  calls: number;
  /** `calls` when its channel closed. */
  callsAtClose: number;
}

function signalOf(code: number | null, signal: NodeJS.Signals | null): NodeJS.Signals | null {
  if (signal !== null) return signal;
  // bubblewrap (and the shell before it) report a child killed by a signal as exit code 128 + signal.
  if (code !== null && code > 128 && code < 128 + 65) {
    const name = Object.entries(osConstants.signals).find(([, number]) => number === code - 128)?.[0];
    if (name) return name as NodeJS.Signals;
  }
  return null;
}

function causeOf(exit: Exit): CrashCause {
  if (exit.outOfMemory) return 'out_of_memory';
  if (exit.killedFor) return exit.killedFor.cause;
  const signal = signalOf(exit.code, exit.signal);
  if (signal) return FATAL_SIGNALS.has(signal) ? 'fatal_error' : 'killed';
  return 'exited';
}

function describeExit(exit: Exit, limits: CgroupLimits | undefined): string {
  if (exit.outOfMemory) return `it ran out of memory (its limit is ${Math.round((limits?.memoryBytes ?? 0) / 1048576)} MiB) and the kernel killed it`;
  if (exit.killedFor) return exit.killedFor.why;
  const signal = signalOf(exit.code, exit.signal);
  if (signal) return `it was killed by ${signal}${signal === 'SIGABRT' || signal === 'SIGTRAP' ? ' (a fatal V8 error)' : ''}`;
  return `it exited with code ${String(exit.code)}`;
}

export class ProcessRuntime implements EndpointRuntime {
  readonly language: Language;
  readonly address: string;
  readonly #o: ProcessRuntimeOptions;
  readonly #logger: Logger;
  #state: State = 'new';
  #child: Child | undefined;
  #health: RuntimeHealth = { status: 'unavailable', reason: 'not started' };
  #lastFailure: string | undefined;
  #failedStarts = 0;
  #restarts = 0;
  #crashes = 0;
  #backoffMs = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #polling = false;
  #readyWaiters: Array<() => void> = [];
  #logBudget = { second: 0, lines: 0, dropped: 0 };
  #launchDetails: Readonly<Record<string, unknown>> = {};

  constructor(options: ProcessRuntimeOptions) {
    this.language = options.language;
    this.address = options.address;
    this.#o = options;
    this.#logger = options.logger;
  }

  /** Starts the process and waits until it is ready, or has failed (then it reports unavailable and keeps trying). */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#spawn();
    await this.#waitReady(this.#o.startTimeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    clearTimeout(this.#restartTimer);
    clearInterval(this.#healthTimer);
    this.#wakeWaiters();
    const child = this.#child;
    if (child) {
      const grace = this.#o.stopGraceMs + 2000;
      await Promise.race([child.peer.call('stop', {}, { timeoutMs: grace }).catch(() => undefined), child.exited]);
      const force = setTimeout(() => this.#kill(child, 'it was stopped', 'stopped'), 1000);
      force.unref();
      await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, grace).unref())]);
      clearTimeout(force);
      this.#kill(child, 'it was stopped', 'stopped');
      await child.exited;
    }
    this.#child = undefined;
    this.#state = 'stopped';
    this.#health = { status: 'unavailable', reason: 'stopped' };
  }

  status(): RuntimeHealth['status'] {
    switch (this.#state) {
      case 'ready':
        return this.#health.status;
      case 'starting':
      case 'restarting':
        return this.#failedStarts >= FAILED_STARTS_UNAVAILABLE ? 'unavailable' : 'degraded';
      default:
        return 'unavailable';
    }
  }

  health(): RuntimeHealth {
    const child = this.#child;
    const details = {
      ...this.#health.details,
      address: this.address,
      process: true,
      state: this.#state,
      ...this.#launchDetails,
      pid: child?.pid,
      restarts: this.#restarts,
      crashes: this.#crashes,
      ...(child?.cgroup ? { cgroup: this.#o.cgroups.kind, memory_bytes: child.cgroup.memoryBytes(), memory_limit_bytes: child.cgroup.limits.memoryBytes } : { cgroup: 'none' }),
      ...(this.#lastFailure ? { last_failure: this.#lastFailure } : {}),
    };
    switch (this.#state) {
      case 'ready':
        return { ...this.#health, details };
      case 'starting':
      case 'restarting':
        // Calls wait for it; while starts keep failing it says so.
        if (this.#failedStarts >= FAILED_STARTS_UNAVAILABLE) return { status: 'unavailable', reason: `the ${this.language} runtime process does not start: ${this.#lastFailure ?? 'unknown'}`, details };
        return { status: 'degraded', reason: this.#state === 'restarting' ? `the ${this.language} runtime process is restarting: ${this.#lastFailure ?? ''}` : 'starting', details };
      case 'unavailable':
        return { status: 'unavailable', reason: `the ${this.language} runtime cannot start here: ${this.#lastFailure ?? 'unknown'}`, details };
      default:
        return { status: 'unavailable', reason: this.#state === 'new' ? 'not started' : `the ${this.language} runtime process is ${this.#state}`, details };
    }
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const child = await this.#readyChild(this.#o.prepareTimeoutMs);
    const body = {
      script_hash: request.scriptHash,
      source: request.source,
      compile_options_json: request.compileOptions ? JSON.stringify(request.compileOptions) : '',
    };
    let answer: FrameMessage;
    child.calls++;
    try {
      answer = await child.peer.call('prepare', body, { ...(request.artifact ? { payload: request.artifact } : {}), timeoutMs: this.#o.prepareTimeoutMs });
    } catch (error) {
      throw await this.#callFailed(child, error, 'prepare');
    } finally {
      child.calls--;
    }
    const wire = { ...answer.body, ...(answer.payload.length > 0 ? { artifact: new Uint8Array(answer.payload) } : {}) } as unknown as WirePrepareResponse;
    return prepareResultFromWire(wire);
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    const child = await this.#readyChild(request.timeoutMs);
    const timeoutMs = Math.max(1, Math.round(request.timeoutMs));
    // The call's whole allowance on this side (see EXECUTE_MARGIN_MS): past it the process is killed.
    const overdueMs = 2 * timeoutMs + EXECUTE_MARGIN_MS;
    const payload = Buffer.from(eventJson(request), 'utf8');
    let answer: FrameMessage;
    child.calls++;
    try {
      answer = await child.peer.call(
        'execute',
        { script_hash: request.scriptHash, instance_key: request.instanceKey, timeout_ms: timeoutMs, remaining_ms: overdueMs },
        { payload, timeoutMs: overdueMs },
      );
    } catch (error) {
      if (error instanceof CallTimedOut) {
        // The process let a call run far past its limit: it is not trusted to stop scripts any more.
        this.#kill(child, `a call ran ${overdueMs} ms, past twice its time limit, and the process was killed`, 'unresponsive');
        return { status: 'timeout', limitMs: timeoutMs, logs: [], stats: { durationMs: overdueMs } };
      }
      throw await this.#callFailed(child, error, 'execute');
    } finally {
      child.calls--;
    }
    const wire = { ...answer.body, result_json: answer.payload.toString('utf8') } as unknown as WireExecuteResponse;
    let result: InvocationResult | undefined;
    try {
      result = invocationResultFromWire(wire, this.#o.outputLimits);
    } catch (error) {
      throw new ServiceError('INTERNAL_ERROR', `the ${this.language} runtime process sent a result that is not JSON: ${(error as Error).message}`);
    }
    if (!result) throw new ServiceError('INTERNAL_ERROR', `the ${this.language} runtime process answered an unknown status "${String(wire.status).slice(0, 40)}"`);
    return result;
  }

  release(instanceKey: string): void {
    const child = this.#child;
    if (this.#state !== 'ready' || !child) return;
    child.peer.notify('release', { instance_key: instanceKey });
  }

  // ---- the process -------------------------------------------------------------------------------

  #spawn(): void {
    this.#state = this.#state === 'new' ? 'starting' : 'restarting';
    let launch: RuntimeProcessLaunch;
    try {
      launch = this.#o.launch();
    } catch (error) {
      // No sandbox here: nothing to retry until the operator changes the machine.
      this.#lastFailure = (error as Error).message;
      this.#state = 'unavailable';
      this.#logger.error({ reason: this.#lastFailure }, `${this.language} runtime process cannot be started`);
      this.#wakeWaiters();
      return;
    }
    this.#launchDetails = launch.details;
    const cgroup = this.#o.cgroups.create(`${this.address.replace(/[^\w.-]+/g, '-')}-${Date.now().toString(36)}`, this.#o.cgroupLimits);
    const { command, args } = joiningCgroup(launch, cgroup);
    const child = spawn(command, [...args, JSON.stringify(this.#o.settings)], {
      cwd: '/',
      env: {},
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', launch.seccomp ? 'pipe' : 'ignore', launch.kind === 'bubblewrap' ? 'pipe' : 'ignore'],
    });
    const pipes = child.stdio as unknown as Array<Readable | Writable | null>;
    const channel = pipes[FD_CHANNEL] as unknown as import('node:net').Socket;
    let resolveExit: (exit: Exit) => void = () => undefined;
    const exited = new Promise<Exit>((resolve) => {
      resolveExit = resolve;
    });
    const peer = new FramePeer(channel, {
      maxFrameBytes: this.#o.maxFrameBytes,
      acceptCodes: ACCEPTED_CODES,
      onViolation: (what) => {
        this.#logger.error({ address: this.address, what }, `${this.language} runtime process broke the protocol; killing it`);
        this.#kill(record, `it broke the protocol (${what}) and was killed`, 'protocol');
      },
      onClose: () => {
        record.callsAtClose = record.calls;
      },
    });
    const record: Child = {
      process: child,
      peer,
      cgroup,
      oomBefore: cgroup?.oomKills() ?? 0,
      exited,
      pid: launch.kind === 'none' ? child.pid : undefined,
      killedFor: undefined,
      readyAt: undefined,
      stderr: '',
      calls: 0,
      callsAtClose: 0,
    };
    this.#child = record;

    if (launch.seccomp) {
      const seccompPipe = pipes[FD_SECCOMP] as Writable;
      seccompPipe.on('error', () => undefined);
      seccompPipe.end(launch.seccomp);
    }
    const info = pipes[FD_INFO] as Readable | null;
    if (info) {
      let text = '';
      info.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
        if (match && record.pid === undefined) record.pid = Number(match[1]);
      });
      info.on('error', () => undefined);
    }
    this.#forwardLogs(record, child.stderr as Readable);

    peer.on('ready', (body) => {
      if (this.#child !== record || (this.#state !== 'starting' && this.#state !== 'restarting')) return;
      record.readyAt = performance.now();
      this.#failedStarts = 0;
      this.#health = this.#healthOf(body);
      this.#state = 'ready';
      this.#logger.info({ address: this.address, pid: record.pid, restarts: this.#restarts }, `${this.language} runtime process ready`);
      this.#wakeWaiters();
      if (!this.#healthTimer) {
        this.#healthTimer = setInterval(() => void this.#poll(), this.#o.healthIntervalMs ?? 1000);
        this.#healthTimer.unref();
      }
    });
    peer.on('failed', (body) => {
      this.#lastFailure = typeof body.reason === 'string' ? body.reason.slice(0, 2000) : 'it failed to start';
    });
    if (this.#o.store) this.#serveStore(peer, this.#o.store);

    child.on('error', (error) => {
      record.stderr += `spawn failed: ${error.message}`;
    });
    child.on('exit', (code, signal) => {
      const outOfMemory = cgroup !== undefined && cgroup.oomKills() > record.oomBefore;
      const exit: Exit = { code, signal, outOfMemory, killedFor: record.killedFor, stderr: record.stderr.trim() };
      peer.close();
      cgroup?.remove();
      resolveExit(exit);
      this.#onExit(record, exit);
    });
  }

  #onExit(child: Child, exit: Exit): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    const why = describeExit(exit, child.cgroup?.limits);
    const wasReady = child.readyAt !== undefined;
    if (wasReady) {
      this.#crashes++;
      this.#lastFailure = why;
      this.#logger.error({ address: this.address, exit: { ...exit, stderr: exit.stderr.slice(-1000) } }, `${this.language} runtime process died: ${why}; restarting it`);
      // A process that stayed up a while restarts at once; one that keeps dying waits longer each time.
      this.#backoffMs = performance.now() - (child.readyAt ?? 0) > STABLE_MS ? 0 : Math.min(RESTART_BACKOFF_MAX_MS, Math.max(100, this.#backoffMs * 2));
    } else {
      this.#failedStarts++;
      this.#lastFailure = `${why}${exit.stderr ? `: ${exit.stderr.split('\n').slice(-3).join(' | ')}` : ''}`;
      this.#logger.error({ address: this.address, exit }, `${this.language} runtime process failed to start`);
      this.#backoffMs = Math.min(RESTART_BACKOFF_MAX_MS, Math.max(250, this.#backoffMs * 2));
    }
    this.#state = 'restarting';
    this.#health = { status: 'degraded', reason: `restarting: ${why}` };
    if (this.#failedStarts >= FAILED_STARTS_UNAVAILABLE) this.#wakeWaiters();
    this.#restarts++;
    this.#restartTimer = setTimeout(() => {
      if (this.#state === 'restarting') this.#spawn();
    }, this.#backoffMs);
    this.#restartTimer.unref();
  }

  #kill(child: Child, why: string, cause: CrashCause): void {
    child.killedFor ??= { why, cause };
    if (child.process.exitCode !== null || child.process.signalCode !== null) return;
    for (const pid of [child.pid, child.process.pid === undefined ? undefined : -child.process.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /**
   * What a call that failed on the channel becomes. The channel closed: the process is gone (or
   * going), and its exit says why: the call was running in it, so it failed with the process.
   */
  async #callFailed(child: Child, error: unknown, what: string): Promise<unknown> {
    if (error instanceof ServiceError) return error;
    if (error instanceof PeerClosed) {
      const exit = await Promise.race([child.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000).unref())]);
      if (this.#state === 'stopping' || this.#state === 'stopped') {
        return new ServiceError('RUNTIME_UNAVAILABLE', `the ${this.language} runtime is stopping`, { address: this.address });
      }
      const why = exit ? describeExit(exit, child.cgroup?.limits) : 'its channel closed';
      const cause = exit ? causeOf(exit) : 'exited';
      return new ServiceError('RUNTIME_ERROR', `the ${this.language} runtime process running this call died: ${why}; it is restarted, and the session goes on there`, {
        reason: 'sandbox_crashed',
        cause,
        // Counted against this call's script (runtime-pool.ts) only where a script can have caused it.
        counts_against_script: SCRIPT_CAUSES.has(cause),
        language: this.language,
        ...(exit?.signal || exit?.code !== null ? { signal: signalOf(exit?.code ?? null, exit?.signal ?? null) ?? undefined, exit_code: exit?.code ?? undefined } : {}),
        out_of_memory: exit?.outOfMemory ?? false,
        in_flight: Math.max(1, child.callsAtClose),
      });
    }
    if (error instanceof CallTimedOut) {
      this.#kill(child, `a ${what} was not answered in ${this.#o.prepareTimeoutMs} ms and the process was killed`, 'unresponsive');
      return new ServiceError('RUNTIME_UNAVAILABLE', `the ${this.language} runtime process did not answer a ${what} in time and was replaced`, { address: this.address });
    }
    return error;
  }

  /** The ready process, waiting for it while it (re)starts; RUNTIME_UNAVAILABLE (not run: the pool may go elsewhere) when it does not come. */
  async #readyChild(maxWaitMs: number): Promise<Child> {
    if (this.#state === 'starting' || this.#state === 'restarting') await this.#waitReady(maxWaitMs);
    const child = this.#child;
    if (this.#state === 'ready' && child) return child;
    const reason = this.#state === 'restarting' || this.#state === 'starting' ? `is restarting (${this.#lastFailure ?? 'starting'})` : `is ${this.#state}${this.#lastFailure ? `: ${this.#lastFailure}` : ''}`;
    throw new ServiceError('RUNTIME_UNAVAILABLE', `the ${this.language} runtime process ${reason}`, { address: this.address, notRun: true });
  }

  #waitReady(maxWaitMs: number): Promise<void> {
    if (this.#state !== 'starting' && this.#state !== 'restarting') return Promise.resolve();
    if (this.#failedStarts >= FAILED_STARTS_UNAVAILABLE) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== done);
        resolve();
      }, maxWaitMs);
      timer.unref();
      this.#readyWaiters.push(done);
    });
  }

  #wakeWaiters(): void {
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  async #poll(): Promise<void> {
    const child = this.#child;
    if (this.#polling || this.#state !== 'ready' || !child) return;
    this.#polling = true;
    try {
      const answer = await child.peer.call('health', {}, { timeoutMs: UNRESPONSIVE_MS });
      if (this.#child === child) this.#health = this.#healthOf(answer.body);
    } catch (error) {
      if (error instanceof CallTimedOut && this.#child === child) {
        this.#logger.error({ address: this.address }, `${this.language} runtime process did not answer its health check for ${UNRESPONSIVE_MS} ms; killing it`);
        this.#kill(child, `it stopped answering (no health answer for ${UNRESPONSIVE_MS / 1000} s) and was killed`, 'unresponsive');
      }
    } finally {
      this.#polling = false;
    }
  }

  /** The runtime's health as the process reported it, with the process's own memory. */
  #healthOf(body: Record<string, unknown>): RuntimeHealth {
    const health = healthFromWire(body as never);
    const rss = typeof body.rss_bytes === 'number' && Number.isFinite(body.rss_bytes) ? body.rss_bytes : undefined;
    return rss === undefined ? health : { ...health, details: { ...health.details, rss_bytes: rss } };
  }

  /** The process's log lines (pino JSON on stderr) into the service's log, bounded in size and rate. */
  #forwardLogs(child: Child, stderr: Readable): void {
    let partial = '';
    const logger = this.#logger.child({ runtimeProcess: this.address });
    stderr.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = (lines.pop() ?? '').slice(0, LOG_LINE_BYTES);
      for (const raw of lines) {
        const line = raw.slice(0, LOG_LINE_BYTES);
        if (child.stderr.length < STDERR_KEPT) child.stderr += `${line.slice(0, STDERR_KEPT - child.stderr.length)}\n`;
        const second = Math.floor(Date.now() / 1000);
        if (second !== this.#logBudget.second) {
          if (this.#logBudget.dropped > 0) logger.warn({ dropped: this.#logBudget.dropped }, 'runtime process log lines dropped (rate limit)');
          this.#logBudget = { second, lines: 0, dropped: 0 };
        }
        if (++this.#logBudget.lines > LOG_LINES_PER_SECOND) {
          this.#logBudget.dropped++;
          continue;
        }
        let record: Record<string, unknown> | undefined;
        try {
          const parsed: unknown = JSON.parse(line);
          if (isPlainObject(parsed)) record = parsed;
        } catch {
          record = undefined;
        }
        if (!record) {
          if (line.trim() !== '') logger.warn({ line }, 'runtime process wrote');
          continue;
        }
        const { level, msg, time: _time, ...fields } = record;
        const method = PINO_LEVELS[typeof level === 'number' ? level : 30] ?? 'info';
        logger[method](fields, typeof msg === 'string' ? msg : '');
      }
    });
    stderr.on('error', () => undefined);
  }

  /** The Rust process's module store, answered from the service's (PostgreSQL). Keys are hashes; modules are bounded by the frame size. */
  #serveStore(peer: FramePeer, store: WasmModuleStore): void {
    const keyOf = (body: Record<string, unknown>): string => {
      const key = body.key;
      if (typeof key !== 'string' || !/^[0-9a-f]{16,128}$/.test(key)) throw new ServiceError('INVALID_REQUEST', 'a module key is a hex hash');
      return key;
    };
    peer.handle('store.get', async (body) => {
      const found = await store.get(keyOf(body));
      return found ? { body: { found: true, toolchain: found.toolchain }, payload: found.module } : { body: { found: false } };
    });
    peer.handle('store.put', async (body, payload) => {
      const toolchain = typeof body.toolchain === 'string' ? body.toolchain.slice(0, 200) : '';
      if (payload.length === 0 || toolchain === '') throw new ServiceError('INVALID_REQUEST', 'a module and its toolchain are needed');
      await store.put(keyOf(body), { module: new Uint8Array(payload), toolchain });
      return { body: {} };
    });
  }
}

export function createProcessRuntime(options: ProcessRuntimeOptions): ProcessRuntime {
  return new ProcessRuntime(options);
}
