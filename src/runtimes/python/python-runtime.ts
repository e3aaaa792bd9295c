/**
 * The Python runtime: runs untrusted scripts in warm CPython processes (the system python3),
 * each inside its own bubblewrap sandbox (sandbox.ts), speaking newline-delimited JSON
 * (guest/worker.py).
 *
 * Isolation: a worker serves one session only. Blank workers are started ahead of demand (the
 * pool); a session's first execute binds one, and from then on that process keeps the session's
 * compiled script and module state, and is never handed to anyone else: when the session ends (or
 * its worker must make room for another session, least recently used first) the process is killed.
 * Inside one CPython process, scripts could reach each other through interpreter-wide state
 * (`sys.modules`, builtins, `gc`, threads of their own...); separate processes in separate
 * namespaces leave nothing shared but the read-only /usr. `prepare` only compiles (no user code
 * runs), in a worker of its own that never joins a session: a blank worker that had compiled
 * someone else's script would carry its source into the session it joins.
 *
 * Scheduling: one request at a time per worker, decided on the host; calls of one session queue
 * behind each other in order, calls of other sessions go to their own workers. The queue is
 * bounded (`maxQueue`) and a call waits at most its own time limit; beyond either it is refused
 * with RUNTIME_UNAVAILABLE (503), as the runtime is saturated, not the script wrong.
 *
 * Limits: the wall-time deadline is the host's: the worker is asked for its logs (SIGUSR1), then
 * killed, and a fresh one takes its place. Memory (RLIMIT_AS) ends in a MemoryError the worker
 * reports before the host retires it. A worker that dies mid-call is reported to that call and
 * replaced.
 */
import { readFile } from 'node:fs/promises';

import { IdleWaiters, waitAtMost } from '../../common/idle.js';
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
} from '../runtime.js';
import { errorMessage, eventJson, NOT_PREPARED, OUTPUT_LIMIT_DEFAULTS, roundMs } from '../kit/invocation.js';
import { boundOutput } from '../kit/output-limits.js';
import { guestLogs, guestScriptError } from '../kit/guest-values.js';
import { DeadlineQueue } from '../kit/deadline-queue.js';
import { SingleFlight } from '../kit/single-flight.js';
import { createScriptCache, type ScriptCache } from '../kit/script-cache.js';
import { planLaunch, SandboxUnavailable, type LaunchPlan } from './sandbox.js';
import { WorkerGone, WorkerProcess, describeExit, type KillReason, type WorkerExit, type WorkerMessage } from './worker-process.js';

export interface PythonRuntimeOptions {
  logger: Logger;
  /** Blank workers kept started ahead of demand (default 2). */
  poolSize: number;
  /** Worker processes at most, blank or serving a session (default 16). */
  maxWorkers: number;
  /** Calls waiting for a worker at most; more are refused with RUNTIME_UNAVAILABLE (default 256). */
  maxQueue: number;
  /** Address-space limit of each worker, in MiB (default 256). */
  memoryLimitMb: number;
  /** Log lines kept per invocation (default 100); a marker line follows when some are dropped or cut. */
  maxLogEntries: number;
  /** UTF-8 bytes of log lines kept per invocation (default 65536), the marker aside. */
  maxLogBytes: number;
  /** A result whose JSON is bigger than this is refused with `output_limit` (default 1 MiB). */
  maxResultBytes: number;
  /** Run workers without bubblewrap where it cannot run. UNSAFE: scripts then see the host (default false). */
  allowUnsandboxed: boolean;
  /** The interpreter (default /usr/bin/python3; never a pyenv shim). */
  pythonPath?: string;
  bwrapPath?: string;
  setprivPath?: string;
  /** CPU seconds a worker may use over its whole life (RLIMIT_CPU; default 3600). */
  cpuLimitSeconds?: number;
  /** Largest file a script may write (RLIMIT_FSIZE; default 16 MiB). */
  maxFileBytes?: number;
  /** Size of each worker's private /tmp (default 16 MiB). */
  tmpSizeBytes?: number;
  /** Open files per worker (RLIMIT_NOFILE; default 64). */
  maxOpenFiles?: number;
  /** LRU bound of prepared scripts (default 1000) and of their total size (default 64 MiB). */
  maxScripts?: number;
  maxScriptBytes?: number;
  /** Time allowed to compile a script (default 5000 ms), each compile on its own. */
  prepareTimeoutMs?: number;
  /** Workers that compile (they never run a script), so that one slow compile holds no other (default 2). */
  compilers?: number;
  /** Files (inodes) a worker may have in its /tmp; beyond, the call fails and the worker is replaced (default 4096). */
  maxTmpFiles?: number;
  /** Time allowed to a worker to start (default 10000 ms). */
  startTimeoutMs?: number;
  /** How long `stop` waits for in-flight calls before killing the workers (default 5000 ms). */
  stopGraceMs?: number;
  /** CPU an idle worker may use per sampling second before it is killed as runaway (default 200 ms). */
  idleCpuMsPerSecond?: number;
}

export const PYTHON_RUNTIME_DEFAULTS = {
  poolSize: 2,
  maxWorkers: 16,
  maxQueue: 256,
  memoryLimitMb: 256,
  ...OUTPUT_LIMIT_DEFAULTS,
  allowUnsandboxed: false,
  pythonPath: '/usr/bin/python3',
  cpuLimitSeconds: 3600,
  maxFileBytes: 16 * 1024 * 1024,
  tmpSizeBytes: 16 * 1024 * 1024,
  maxOpenFiles: 64,
  maxScripts: 1000,
  maxScriptBytes: 64 * 1024 * 1024,
  prepareTimeoutMs: 5000,
  compilers: 2,
  maxTmpFiles: 4096,
  startTimeoutMs: 10_000,
  stopGraceMs: 5000,
  idleCpuMsPerSecond: 200,
} as const;

/** After the deadline, how long the worker has to hand over its logs before it is killed. */
const DEADLINE_LOG_GRACE_MS = 50;
/** How often a running call's /tmp is counted (a script can make tens of thousands of files a second). */
const TMP_POLL_MS = 100;
/** Consecutive failed worker starts after which queued calls are refused and starts back off. */
const START_FAILURES_TO_BACK_OFF = 3;
const START_BACKOFF_MS = 1000;
const REAPER_INTERVAL_MS = 1000;
const CLOCK_TICKS_PER_SECOND = 100;

interface PreparedScript {
  readonly hash: string;
  readonly source: string;
  /** The source as a JSON string, made once. */
  readonly sourceJson: string;
  readonly bytes: number;
  readonly form: string;
}

/** A call waiting for a worker. */
interface Job {
  /** The session the call belongs to; undefined for a compile, which needs a blank worker. */
  readonly key: string | undefined;
}

type State = 'new' | 'starting' | 'running' | 'unavailable' | 'stopping' | 'stopped';


export class PythonRuntime implements Runtime {
  readonly language: Language = 'python';

  readonly #o: Required<PythonRuntimeOptions>;
  readonly #logger: Logger;
  #state: State = 'new';
  #unavailableReason: string | undefined;
  #plan: LaunchPlan | undefined;
  #workerSource = '';
  #workerConfig = '';
  #maxLineBytes = 0;

  /** Session workers and blank spares (at most maxWorkers). */
  readonly #workers = new Set<WorkerProcess>();
  /** The workers that compile for `prepare`; they never run a script and never join a session. */
  readonly #compilers = new Set<WorkerProcess>();
  readonly #byKey = new Map<string, WorkerProcess>();
  #nextWorkerId = 1;
  readonly #queue = new DeadlineQueue<Job, WorkerProcess>();
  /** Queued jobs per session key, so a session's calls stay in order. */
  readonly #queuedPerKey = new Map<string, number>();
  #restarts = 0;
  #consecutiveStartFailures = 0;
  #lastStartFailure: string | undefined;
  #backoffUntil = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  #reaper: NodeJS.Timeout | undefined;
  readonly #idle = new IdleWaiters();
  readonly #exitWaiters = new Map<WorkerProcess, () => void>();
  #coldStartMs: number | undefined;

  /** Prepared scripts, least recently used out first (kit/script-cache.ts). */
  /** Workers keep their compiled copy of an evicted script; a session bound to one goes on using it. */
  readonly #scripts: ScriptCache<PreparedScript>;
  readonly #preparing = new SingleFlight<string, PrepareResult>();

  constructor(options: PythonRuntimeOptions) {
    const d = PYTHON_RUNTIME_DEFAULTS;
    this.#logger = options.logger;
    this.#o = {
      logger: options.logger,
      poolSize: Math.max(0, options.poolSize),
      maxWorkers: Math.max(1, options.maxWorkers, options.poolSize),
      maxQueue: Math.max(0, options.maxQueue),
      memoryLimitMb: Math.max(32, options.memoryLimitMb),
      maxLogEntries: Math.max(0, options.maxLogEntries),
      maxLogBytes: Math.max(0, options.maxLogBytes),
      maxResultBytes: Math.max(1, options.maxResultBytes),
      allowUnsandboxed: options.allowUnsandboxed,
      pythonPath: options.pythonPath ?? d.pythonPath,
      bwrapPath: options.bwrapPath ?? '',
      setprivPath: options.setprivPath ?? '',
      cpuLimitSeconds: Math.max(1, options.cpuLimitSeconds ?? d.cpuLimitSeconds),
      maxFileBytes: Math.max(0, options.maxFileBytes ?? d.maxFileBytes),
      tmpSizeBytes: Math.max(64 * 1024, options.tmpSizeBytes ?? d.tmpSizeBytes),
      maxOpenFiles: Math.max(16, options.maxOpenFiles ?? d.maxOpenFiles),
      maxScripts: Math.max(1, options.maxScripts ?? d.maxScripts),
      maxScriptBytes: Math.max(1, options.maxScriptBytes ?? d.maxScriptBytes),
      prepareTimeoutMs: Math.max(1, options.prepareTimeoutMs ?? d.prepareTimeoutMs),
      compilers: Math.max(1, options.compilers ?? d.compilers),
      maxTmpFiles: Math.max(16, options.maxTmpFiles ?? d.maxTmpFiles),
      startTimeoutMs: Math.max(100, options.startTimeoutMs ?? d.startTimeoutMs),
      stopGraceMs: Math.max(0, options.stopGraceMs ?? d.stopGraceMs),
      idleCpuMsPerSecond: Math.max(10, options.idleCpuMsPerSecond ?? d.idleCpuMsPerSecond),
    };
    this.#scripts = createScriptCache<PreparedScript>(this.#o.maxScripts, this.#o.maxScriptBytes);
  }

  get #memoryLimitBytes(): number {
    return this.#o.memoryLimitMb * 1024 * 1024;
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    const started = performance.now();
    const workerHostPath = projectPath('src/runtimes/python/guest/worker.py');
    try {
      this.#workerSource = await readFile(workerHostPath, 'utf8');
      this.#plan = await this.#planAndProbe(workerHostPath);
    } catch (error) {
      const sandboxRelated = /bwrap|bubblewrap|sandbox|setpriv/.test(errorMessage(error));
      const hint = sandboxRelated && !this.#o.allowUnsandboxed ? ' (PYTHON_ALLOW_UNSANDBOXED=true would run Python without a sandbox: unsafe)' : '';
      this.#unavailableReason = `the Python runtime cannot start: ${errorMessage(error)}${hint}`;
      this.#state = 'unavailable';
      this.#logger.error({ reason: this.#unavailableReason }, 'python runtime unavailable');
      return;
    }
    if (this.#plan.kind === 'none') {
      this.#logger.warn({ details: this.#plan.details }, 'python runtime: running scripts WITHOUT a sandbox (PYTHON_ALLOW_UNSANDBOXED)');
    }
    this.#state = 'running';
    this.#reaper = setInterval(() => this.#reap(), REAPER_INTERVAL_MS);
    this.#reaper.unref();
    this.#replenish();
    this.#logger.info(
      { sandbox: this.#plan.kind, poolSize: this.#o.poolSize, maxWorkers: this.#o.maxWorkers, coldStartMs: this.#coldStartMs, startMs: roundMs(performance.now() - started) },
      'python runtime started',
    );
  }

  /** Finds how to launch workers here and proves it by starting one (which joins the pool). */
  async #planAndProbe(workerHostPath: string): Promise<LaunchPlan> {
    const settings = {
      pythonPath: this.#o.pythonPath,
      workerHostPath,
      tmpSizeBytes: this.#o.tmpSizeBytes,
      ...(this.#o.bwrapPath ? { bwrapPath: this.#o.bwrapPath } : {}),
      ...(this.#o.setprivPath ? { setprivPath: this.#o.setprivPath } : {}),
    };
    const attempts: Array<'sandboxed' | 'unsandboxed'> = this.#o.allowUnsandboxed ? ['sandboxed', 'unsandboxed'] : ['sandboxed'];
    let failure: unknown;
    for (const mode of attempts) {
      let plan: LaunchPlan;
      try {
        plan = await planLaunch({ ...settings, allowUnsandboxed: this.#o.allowUnsandboxed }, mode);
      } catch (error) {
        failure = error;
        continue;
      }
      this.#configure(plan);
      const probe = this.#spawn(plan, 'compiler');
      try {
        await probe.ready;
        this.#coldStartMs = roundMs((probe.readyAt ?? performance.now()) - probe.startedAt);
        return plan;
      } catch (error) {
        const exit = error instanceof WorkerGone ? error.exit : undefined;
        failure = new SandboxUnavailable(`a ${plan.kind === 'bubblewrap' ? 'sandboxed ' : ''}worker did not start: ${exit ? describeExit(exit) : errorMessage(error)}`);
        this.#compilers.delete(probe);
      }
    }
    throw failure instanceof Error ? failure : new Error(String(failure));
  }

  #configure(plan: LaunchPlan): void {
    this.#workerConfig = JSON.stringify({
      memoryLimitBytes: this.#memoryLimitBytes,
      cpuLimitSeconds: this.#o.cpuLimitSeconds,
      maxProcesses: plan.maxProcesses ?? null,
      maxFileBytes: this.#o.maxFileBytes,
      maxOpenFiles: this.#o.maxOpenFiles,
      maxLogEntries: this.#o.maxLogEntries,
      maxLogBytes: this.#o.maxLogBytes,
      maxResultBytes: this.#o.maxResultBytes,
      workdir: plan.workdir,
      seccomp: plan.workerFilter?.toString('base64') ?? null,
    });
    // A reply carries the result and the logs, JSON-escaped (at worst 6 bytes per byte of logs).
    this.#maxLineBytes = this.#o.maxResultBytes + 6 * this.#o.maxLogBytes + 1024 * 1024;
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    if (this.#reaper) clearInterval(this.#reaper);
    clearTimeout(this.#backoffTimer);
    this.#queue.rejectAll(() => this.#unavailable());
    this.#queuedPerKey.clear();
    // Graceful: in-flight calls may finish (each is bounded by its own deadline)...
    if (this.#allWorkers().some((worker) => worker.busy)) await waitAtMost(this.#idle.next(), this.#o.stopGraceMs);
    // ...then forced: a killed worker ends its call with RUNTIME_UNAVAILABLE.
    const exits = this.#allWorkers().map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.state === 'dead') return resolve();
          const timer = setTimeout(resolve, 2000);
          this.#exitWaiters.set(worker, () => {
            clearTimeout(timer);
            resolve();
          });
          worker.kill('stop');
        }),
    );
    await Promise.all(exits);
    this.#workers.clear();
    this.#compilers.clear();
    this.#byKey.clear();
    this.#exitWaiters.clear();
    this.#scripts.clear();
    this.#state = 'stopped';
    if (wasRunning) this.#logger.info('python runtime stopped');
  }

  health(): RuntimeHealth {
    const workers = [...this.#workers];
    const details: Record<string, unknown> = {
      ...(this.#plan?.details ?? {}),
      workers: workers.length,
      sessions: this.#byKey.size,
      spares: workers.filter((w) => w.key === undefined && w.state !== 'dead').length,
      busy: workers.filter((w) => w.busy).length,
      frozen: workers.filter((w) => w.frozen).length,
      compilers: this.#compilers.size,
      queued: this.#queue.length,
      restarts: this.#restarts,
      scripts: this.#scripts.size,
      poolSize: this.#o.poolSize,
      maxWorkers: this.#o.maxWorkers,
      maxQueue: this.#o.maxQueue,
      memoryLimitMb: this.#o.memoryLimitMb,
      ...(this.#coldStartMs !== undefined ? { workerStartMs: this.#coldStartMs } : {}),
    };
    if (this.#state === 'unavailable') return { status: 'unavailable', reason: this.#unavailableReason ?? 'the Python runtime is unavailable', details };
    if (this.#state !== 'running') return { status: 'unavailable', reason: `runtime is ${this.#state}`, details };
    if (this.#plan?.kind === 'none') {
      return { status: 'degraded', reason: 'running Python WITHOUT a sandbox (PYTHON_ALLOW_UNSANDBOXED=true): scripts can reach the host', details };
    }
    if (this.#consecutiveStartFailures >= START_FAILURES_TO_BACK_OFF) {
      return { status: 'degraded', reason: `workers fail to start: ${this.#lastStartFailure ?? 'unknown'}`, details };
    }
    return { status: 'up', details };
  }

  /** The workers as the host sees them (operators and tests: pids to inspect or signal). */
  workers(): Array<{ id: number; role: string; pid: number | undefined; instanceKey: string | undefined; busy: boolean; state: string }> {
    return this.#allWorkers().map((w) => ({ id: w.id, role: this.#compilers.has(w) ? 'compiler' : w.key === undefined ? 'blank' : 'session', pid: w.pid, instanceKey: w.key, busy: w.busy, state: w.state }));
  }

  // ---- prepare -----------------------------------------------------------------------------------

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    this.#assertRunning();
    if (typeof request.source !== 'string') {
      return { ok: false, error: { kind: 'InvalidScript', message: 'script source must be a string' } };
    }
    const known = this.#scripts.get(request.scriptHash);
    if (known && known.source === request.source) {
      return { ok: true, compileMs: 0 };
    }
    const source = request.source;
    return this.#preparing.run(request.scriptHash, () => this.#prepare(request.scriptHash, source));
  }

  /** Python takes no compile options and no artifact: both are ignored if given. */
  async #prepare(hash: string, source: string): Promise<PrepareResult> {
    const sourceJson = JSON.stringify(source);
    const worker = await this.#acquire(undefined, this.#o.prepareTimeoutMs);
    const timer = setTimeout(() => this.#kill(worker, 'prepare-timeout'), this.#o.prepareTimeoutMs);
    try {
      const reply = await worker.request('compile', `"hash":${JSON.stringify(hash)},"source":${sourceJson}`);
      if (reply.ok === true) {
        this.#scripts.set(hash, { hash, source, sourceJson, bytes: source.length * 2, form: typeof reply.form === 'string' ? reply.form : 'body' });
        return { ok: true, compileMs: typeof reply.ms === 'number' ? reply.ms : 0 };
      }
      return { ok: false, error: toCompileFailure(reply.error) };
    } catch (error) {
      if (!(error instanceof WorkerGone)) throw error;
      if (error.exit.reason === 'stop' || this.#state !== 'running') throw this.#unavailable();
      if (error.exit.reason === 'prepare-timeout') {
        return { ok: false, error: { kind: 'TimeoutError', message: `the script did not compile within ${this.#o.prepareTimeoutMs} ms` } };
      }
      this.#logger.error({ exit: error.exit }, 'python runtime: a worker died while compiling');
      throw new ServiceError('INTERNAL_ERROR', 'the Python runtime failed to compile the script (its worker died)');
    } finally {
      clearTimeout(timer);
      this.#releaseWorker(worker);
    }
  }

  // ---- execute -----------------------------------------------------------------------------------

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    this.#assertRunning();
    const script = this.#scripts.get(request.scriptHash);
    if (!script) return NOT_PREPARED;
    const json = eventJson(request);
    const timeoutMs = Math.max(1, Math.floor(request.timeoutMs));
    const worker = await this.#acquire(request.instanceKey, timeoutMs);
    try {
      return await this.#invoke(worker, script, request.instanceKey, json, timeoutMs);
    } finally {
      this.#releaseWorker(worker);
    }
  }

  release(instanceKey: string): void {
    try {
      const worker = this.#byKey.get(instanceKey);
      if (!worker) return;
      this.#byKey.delete(instanceKey);
      if (worker.busy) {
        worker.released = true;
      } else {
        this.#retire(worker, 'released');
        this.#dispatch();
      }
    } catch (error) {
      this.#logger.warn({ err: error, instanceKey }, 'python runtime: release failed');
    }
  }

  async #invoke(worker: WorkerProcess, script: PreparedScript, instanceKey: string, eventJson: string, timeoutMs: number): Promise<InvocationResult> {
    if (worker.key !== instanceKey) throw new ServiceError('INTERNAL_ERROR', 'python runtime: a worker was handed to the wrong session');
    const started = performance.now();
    const elapsed = (): number => roundMs(performance.now() - started);
    let timedOut = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const deadlineTimer = setTimeout(() => {
      timedOut = true;
      worker.signalDeadline();
      graceTimer = setTimeout(() => this.#kill(worker, 'timeout'), DEADLINE_LOG_GRACE_MS);
    }, timeoutMs);

    let reply: WorkerMessage | undefined;
    let gone: WorkerGone | undefined;
    const tmpPoll = setInterval(() => this.#checkTmp(worker), TMP_POLL_MS);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const withSource = !worker.compiled.has(script.hash);
        const fields = `"hash":${JSON.stringify(script.hash)}${withSource ? `,"source":${script.sourceJson}` : ''},"event":${eventJson}`;
        reply = await worker.request('run', fields);
        worker.compiled.add(script.hash);
        // The worker lost the script (it cannot, short of a script tampering with it): send it again.
        if (reply.s === 'not_prepared' && !withSource && !timedOut) {
          worker.compiled.delete(script.hash);
          continue;
        }
        break;
      }
    } catch (error) {
      if (!(error instanceof WorkerGone)) throw error;
      gone = error;
    } finally {
      clearTimeout(deadlineTimer);
      clearTimeout(graceTimer);
      clearInterval(tmpPoll);
    }
    if (!gone && !timedOut) this.#checkTmp(worker);
    if (worker.killReason === 'tmp-files') return this.#died({ code: null, signal: 'SIGKILL', reason: 'tmp-files', stderr: '', duringStart: false }, elapsed());

    if (timedOut) {
      this.#kill(worker, 'timeout');
      return { status: 'timeout', limitMs: timeoutMs, logs: reply ? guestLogs(reply.l) : [], stats: { durationMs: elapsed() } };
    }
    if (gone) return this.#died(gone.exit, elapsed());
    if (!reply) throw new ServiceError('INTERNAL_ERROR', 'python runtime: no reply');

    const result = this.#toResult(worker, reply, elapsed());
    // The worker's limits are the script's to change (it runs in the same interpreter): the host
    // enforces them again on what came back. A reply line no longer than the limit cannot hold a
    // result over it, so the result is measured only when it could be.
    const lineBytes = worker.lastReplyBytes;
    return boundOutput(result, this.#o, lineBytes <= this.#o.maxResultBytes ? lineBytes : undefined);
  }

  #toResult(worker: WorkerProcess, reply: WorkerMessage, durationMs: number): InvocationResult {
    const logs = guestLogs(reply.l);
    const memoryUsageBytes = typeof reply.m === 'number' && Number.isFinite(reply.m) ? reply.m : undefined;
    const stats: InvocationStats = memoryUsageBytes === undefined ? { durationMs } : { durationMs, memoryUsageBytes };
    switch (reply.s) {
      case 'ok':
        return { status: 'ok', result: reply.r ?? null, logs, stats };
      case 'error':
        return { status: 'error', error: guestScriptError(reply.e), logs, stats };
      case 'memory':
        // The worker's memory is spent and its state suspect: a fresh one takes its place.
        this.#kill(worker, 'memory');
        return { status: 'memory_limit', limitBytes: this.#memoryLimitBytes, message: this.#memoryMessage(guestScriptError(reply.e).message), logs, stats };
      case 'output_limit':
        return {
          status: 'output_limit',
          limitBytes: this.#o.maxResultBytes,
          message: `result is ${typeof reply.n === 'number' ? reply.n : 'more than'} bytes of JSON, over the limit of ${this.#o.maxResultBytes} bytes`,
          logs,
          stats,
        };
      default:
        // Only a script writing to the protocol itself gets here; it fooled no one but itself.
        this.#kill(worker, 'protocol');
        return { status: 'error', error: { name: 'WorkerProtocolError', message: 'the worker sent a reply the runtime cannot read' }, logs: [], stats };
    }
  }

  /** The worker ended before it answered: the call's result, or RUNTIME_UNAVAILABLE while stopping. */
  #died(exit: WorkerExit, durationMs: number): InvocationResult {
    const stats = { durationMs };
    if (exit.reason === 'stop' || this.#state === 'stopping' || this.#state === 'stopped') throw this.#unavailable();
    if (exit.reason === 'protocol') {
      return { status: 'error', error: { name: 'WorkerProtocolError', message: 'the worker broke the protocol (the script wrote to it?) and was replaced' }, logs: [], stats };
    }
    if (exit.reason === 'tmp-files') {
      return {
        status: 'error',
        error: { name: 'TmpFilesLimitError', message: `the script made more than ${this.#o.maxTmpFiles} files in /tmp (its limit); its worker was replaced` },
        logs: [],
        stats,
      };
    }
    if (exit.signal === 'SIGXCPU') {
      return {
        status: 'error',
        error: { name: 'CpuLimitError', message: `the worker used up its CPU time (${this.#o.cpuLimitSeconds} s per worker) and was replaced` },
        logs: [],
        stats,
      };
    }
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    return {
      status: 'error',
      error: { name: 'WorkerCrashed', message: `the Python worker running the script ${how}; a fresh worker replaces it` },
      logs: [],
      stats,
    };
  }

  /** Kills a worker whose /tmp holds more files than allowed; its call then fails with TmpFilesLimitError. */
  #checkTmp(worker: WorkerProcess): void {
    if (worker.killReason !== undefined) return;
    const files = worker.tmpFiles();
    // The tmpfs root itself is one inode.
    if (files !== undefined && files - 1 > this.#o.maxTmpFiles) {
      this.#logger.warn({ worker: worker.id, files }, 'python runtime: a script filled /tmp with files; killing its worker');
      this.#kill(worker, 'tmp-files');
    }
  }

  #memoryMessage(detail: string): string {
    return `script exceeded the memory limit of ${this.#o.memoryLimitMb} MiB (${this.#memoryLimitBytes} bytes)${detail ? `: ${detail}` : ''}`;
  }

  // ---- the pool ----------------------------------------------------------------------------------

  /**
   * A worker for one call: the session's own worker (waiting for it while it is busy, so the
   * session's calls run in order), else a blank one that becomes the session's, else a new one.
   * `key` undefined asks for a blank worker (compiles). Waits at most `maxWaitMs`.
   */
  #acquire(key: string | undefined, maxWaitMs: number): Promise<WorkerProcess> {
    this.#assertRunning();
    if (key === undefined || !this.#queuedPerKey.has(key)) {
      const worker = this.#workerFor(key);
      if (worker) {
        worker.busy = true;
        return Promise.resolve(worker);
      }
    }
    if (this.#queue.length >= this.#o.maxQueue) {
      return Promise.reject(
        new ServiceError('RUNTIME_UNAVAILABLE', `the Python runtime is saturated: ${this.#queue.length} calls are already waiting for a worker`, {
          queued: this.#queue.length,
          maxQueue: this.#o.maxQueue,
        }),
      );
    }
    const job: Job = { key };
    const waiting = this.#queue.wait(job, maxWaitMs, (queued) => {
      this.#unqueued(job);
      return new ServiceError('RUNTIME_UNAVAILABLE', `no Python worker became free within ${maxWaitMs} ms`, {
        queued,
        ...(this.#lastStartFailure && this.#consecutiveStartFailures > 0 ? { lastStartFailure: this.#lastStartFailure } : {}),
      });
    });
    if (key !== undefined) this.#queuedPerKey.set(key, (this.#queuedPerKey.get(key) ?? 0) + 1);
    this.#dispatch();
    return waiting;
  }

  #unqueued(job: Job): void {
    if (job.key === undefined) return;
    const left = (this.#queuedPerKey.get(job.key) ?? 1) - 1;
    if (left <= 0) this.#queuedPerKey.delete(job.key);
    else this.#queuedPerKey.set(job.key, left);
  }

  /**
   * A ready, idle worker for `key` now, or undefined (then one may have been started for it).
   * `key` undefined asks for the compiler.
   */
  #workerFor(key: string | undefined): WorkerProcess | undefined {
    if (key !== undefined) {
      let own = this.#byKey.get(key);
      if (own && own.killReason !== undefined && !own.busy) {
        // Killed while idle (it broke the protocol between calls): it is on its way out.
        this.#retire(own, own.killReason);
        own = undefined;
      }
      if (own) return own.state === 'ready' && !own.busy ? own : undefined;
      const spare = this.#idleSpare();
      if (spare) {
        this.#bind(spare, key);
        return spare;
      }
      // A blank worker on its way is the soonest: claim it for this session.
      const starting = [...this.#workers].find((w) => w.key === undefined && w.state === 'starting');
      if (starting) {
        this.#bind(starting, key);
        return undefined;
      }
      if (this.#makeRoom()) {
        const fresh = this.#spawnWorker();
        if (fresh) this.#bind(fresh, key);
      }
      return undefined;
    }
    // Compiles go to compilers only: a blank worker that compiled someone else's script would
    // carry its source into the session it joins next. Several, so that one slow compile (a huge
    // f-string took 4.6 s) holds up no other initialize; each compile has its own time limit.
    let starting = false;
    for (const compiler of [...this.#compilers]) {
      if (compiler.killReason !== undefined && !compiler.busy) {
        this.#retire(compiler, compiler.killReason);
        continue;
      }
      if (compiler.state === 'ready' && !compiler.busy) return compiler;
      if (compiler.state === 'starting') starting = true;
    }
    if (!starting && this.#compilers.size < this.#o.compilers) this.#spawnWorker('compiler');
    return undefined;
  }

  #idleSpare(): WorkerProcess | undefined {
    for (const worker of this.#workers) {
      if (worker.key === undefined && worker.state === 'ready' && !worker.busy && worker.killReason === undefined) return worker;
    }
    return undefined;
  }

  #bind(worker: WorkerProcess, key: string): void {
    worker.key = key;
    this.#byKey.set(key, worker);
  }

  /** True when one more worker may start: there is room, or an idle session's worker was retired for it. */
  #makeRoom(): boolean {
    if (this.#workers.size < this.#o.maxWorkers) return true;
    let victim: WorkerProcess | undefined;
    for (const worker of this.#workers) {
      if (worker.key === undefined || worker.busy || worker.state !== 'ready' || this.#queuedPerKey.has(worker.key)) continue;
      if (!victim || worker.lastUsed < victim.lastUsed) victim = worker;
    }
    if (!victim) return false;
    this.#retire(victim, 'evicted');
    return true;
  }

  /** Hands idle workers to queued calls, oldest first, skipping calls whose worker is busy. */
  #dispatch(): void {
    if (this.#state !== 'running') return;
    this.#queue.handOut((job) => {
      const worker = this.#workerFor(job.key);
      if (!worker) return undefined;
      this.#unqueued(job);
      worker.busy = true;
      return worker;
    });
    this.#replenish();
  }

  /** Keeps `poolSize` blank workers started or starting, within maxWorkers. */
  #replenish(): void {
    if (this.#state !== 'running') return;
    let spares = 0;
    for (const worker of this.#workers) if (worker.key === undefined) spares += 1;
    // Within maxWorkers only: an idle session's warm state is worth more than a blank worker
    // (when the pool is full, a new session waits for one start, ~30 ms).
    while (spares < this.#o.poolSize && this.#workers.size < this.#o.maxWorkers) {
      if (!this.#spawnWorker()) return;
      spares += 1;
    }
  }

  #spawnWorker(role: 'compiler' | 'session' = 'session'): WorkerProcess | undefined {
    const plan = this.#plan;
    if (!plan || this.#state !== 'running') return undefined;
    if (performance.now() < this.#backoffUntil) {
      if (!this.#backoffTimer) {
        this.#backoffTimer = setTimeout(() => {
          this.#backoffTimer = undefined;
          this.#dispatch();
        }, Math.max(1, this.#backoffUntil - performance.now()));
        this.#backoffTimer.unref();
      }
      return undefined;
    }
    return this.#spawn(plan, role);
  }

  #spawn(plan: LaunchPlan, role: 'compiler' | 'session'): WorkerProcess {
    const worker = new WorkerProcess({
      id: this.#nextWorkerId++,
      plan,
      workerSource: this.#workerSource,
      config: this.#workerConfig,
      maxLineBytes: this.#maxLineBytes,
      startTimeoutMs: this.#o.startTimeoutMs,
      logger: this.#logger,
      onExit: (w, exit) => this.#onWorkerExit(w, exit),
    });
    if (role === 'compiler') this.#compilers.add(worker);
    else this.#workers.add(worker);
    worker.ready.then(
      () => {
        this.#consecutiveStartFailures = 0;
        worker.lastUsed = performance.now();
        worker.idleSince = worker.lastUsed;
        this.#dispatch();
      },
      () => undefined,
    );
    return worker;
  }

  #onWorkerExit(worker: WorkerProcess, exit: WorkerExit): void {
    this.#exitWaiters.get(worker)?.();
    this.#exitWaiters.delete(worker);
    this.#workers.delete(worker);
    this.#compilers.delete(worker);
    if (worker.key !== undefined && this.#byKey.get(worker.key) === worker) this.#byKey.delete(worker.key);
    if (this.#state !== 'running') return;
    if (exit.duringStart) {
      this.#consecutiveStartFailures += 1;
      this.#lastStartFailure = describeExit(exit);
      this.#logger.error({ worker: worker.id, exit }, 'python runtime: a worker failed to start');
      if (this.#consecutiveStartFailures >= START_FAILURES_TO_BACK_OFF) {
        this.#backoffUntil = performance.now() + START_BACKOFF_MS;
        // Nothing is coming for the calls that wait for a worker: tell them now.
        this.#queue.rejectAll((job) => {
          this.#unqueued(job);
          return new ServiceError('RUNTIME_UNAVAILABLE', `Python workers fail to start: ${this.#lastStartFailure}`);
        });
      }
    } else if (exit.reason === undefined || exit.reason === 'protocol') {
      // Died on its own (crash, kill -9, CPU limit) or broke the protocol; the kills the runtime
      // decides itself are counted when it decides them (#kill).
      this.#restarts += 1;
      this.#logger.warn({ worker: worker.id, exit }, 'python runtime: a worker died; replacing it');
    }
    this.#dispatch();
  }

  #releaseWorker(worker: WorkerProcess): void {
    worker.busy = false;
    worker.lastUsed = performance.now();
    worker.idleSince = worker.lastUsed;
    worker.cpuSample = undefined;
    // Killed during the call (timeout, memory...) or its session ended: it serves no one again.
    if (worker.killReason !== undefined) this.#retire(worker, worker.killReason);
    else if (worker.released) this.#retire(worker, 'released');
    // A session's worker runs nothing until that session's next call.
    else if (worker.key !== undefined) worker.freeze();
    this.#dispatch();
    if (this.#idle.waiting && !this.#allWorkers().some((w) => w.busy)) this.#idle.notify();
  }

  /** Ends a worker because of what ran in it; a fresh one takes its place (a restart). */
  #kill(worker: WorkerProcess, reason: KillReason): void {
    if (worker.killReason === undefined && worker.state !== 'dead') this.#restarts += 1;
    worker.kill(reason);
  }

  /** Takes a worker out of the pool now (its exit comes later) and kills it. */
  #retire(worker: WorkerProcess, reason: KillReason): void {
    this.#workers.delete(worker);
    this.#compilers.delete(worker);
    if (worker.key !== undefined && this.#byKey.get(worker.key) === worker) this.#byKey.delete(worker.key);
    worker.kill(reason);
  }

  /**
   * Once a second: an idle worker that burns CPU is running code nobody asked for (a signal
   * handler a script left behind...): it is killed before it steals more from the others.
   */
  #reap(): void {
    const now = performance.now();
    const budgetTicks = (this.#o.idleCpuMsPerSecond / 1000) * CLOCK_TICKS_PER_SECOND;
    for (const worker of this.#workers) {
      if (worker.busy || worker.state !== 'ready' || worker.key === undefined) continue;
      const ticks = worker.cpuTicks();
      if (ticks === undefined) continue;
      const sample = worker.cpuSample;
      worker.cpuSample = { ticks, at: now };
      if (!sample || sample.at < worker.idleSince) continue;
      const seconds = Math.max(0.5, (now - sample.at) / 1000);
      if (ticks - sample.ticks > budgetTicks * seconds) {
        this.#logger.warn({ worker: worker.id, instanceKey: worker.key }, 'python runtime: an idle worker kept using CPU; killing it');
        this.#restarts += 1;
        this.#retire(worker, 'idle-cpu');
      }
    }
    this.#replenish();
  }

  #allWorkers(): WorkerProcess[] {
    return [...this.#compilers, ...this.#workers];
  }

  #assertRunning(): void {
    if (this.#state !== 'running') throw this.#unavailable();
  }

  #unavailable(): ServiceError {
    if (this.#state === 'unavailable') return new ServiceError('RUNTIME_UNAVAILABLE', this.#unavailableReason ?? 'the Python runtime is unavailable', { language: 'python' });
    return new ServiceError('RUNTIME_UNAVAILABLE', `the Python runtime is ${this.#state === 'new' ? 'not started' : this.#state}`, { language: 'python' });
  }
}

function toCompileFailure(value: unknown): CompileFailure {
  const error = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  return {
    kind: typeof error.kind === 'string' ? error.kind : 'SyntaxError',
    message: typeof error.message === 'string' ? error.message : 'the script does not compile',
    ...(typeof error.line === 'number' ? { line: error.line } : {}),
    ...(typeof error.column === 'number' ? { column: error.column } : {}),
    ...(typeof error.diagnostics === 'string' ? { diagnostics: error.diagnostics } : {}),
  };
}

export function createPythonRuntime(options: Partial<PythonRuntimeOptions> & { logger: Logger }): PythonRuntime {
  const d = PYTHON_RUNTIME_DEFAULTS;
  return new PythonRuntime({
    ...options,
    poolSize: options.poolSize ?? d.poolSize,
    maxWorkers: options.maxWorkers ?? d.maxWorkers,
    maxQueue: options.maxQueue ?? d.maxQueue,
    memoryLimitMb: options.memoryLimitMb ?? d.memoryLimitMb,
    maxLogEntries: options.maxLogEntries ?? d.maxLogEntries,
    maxLogBytes: options.maxLogBytes ?? d.maxLogBytes,
    maxResultBytes: options.maxResultBytes ?? d.maxResultBytes,
    allowUnsandboxed: options.allowUnsandboxed ?? d.allowUnsandboxed,
  });
}
