/**
 * The Python runtime: untrusted scripts run in warm CPython processes (the system python3), one
 * per session (worker-pool.ts), each in its own bubblewrap sandbox (sandbox.ts), speaking
 * newline-delimited JSON (guest/worker.py). One CPython process would let scripts reach each other
 * through interpreter-wide state (`sys.modules`, builtins, `gc`, threads...); separate processes
 * in separate namespaces share nothing but the read-only /usr.
 *
 * Packages (packages.ts): PYTHON_PACKAGES_DIR and Debian's dist-packages (PYTHON_SYSTEM_PACKAGES),
 * read-only in every sandbox; PYTHON_PRELOAD modules are imported by each blank session worker
 * before it is handed out, so a session's first execute does not pay for `import numpy`.
 *
 * Limits: the wall-time deadline is the host's: the worker is asked for its logs (SIGUSR1), then
 * killed and replaced. Memory (RLIMIT_AS) ends in a MemoryError the worker reports before the host
 * retires it. A worker that dies mid-call is reported to that call and replaced.
 */
import { readFile } from 'node:fs/promises';

import type { Config } from '../../config/config.js';
import { projectPath } from '../../config/paths.js';
import { ServiceError } from '../../errors/service-error.js';
import type { Logger } from '../../observability/logger.js';
import type { ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from '../runtime.js';
import { errorMessage, eventJson, NOT_PREPARED, roundMs } from '../kit/invocation.js';
import { boundOutput, type OutputLimits } from '../kit/output-limits.js';
import { guestCompileFailure, guestLogs, guestScriptError } from '../kit/guest-values.js';
import { Lifecycle } from '../kit/lifecycle.js';
import { SingleFlight } from '../kit/single-flight.js';
import { createScriptCache, type ScriptCache } from '../kit/script-cache.js';
import { GUEST_FILES, planLaunch, type LaunchPlan } from './sandbox.js';
import { WorkerGone, type WorkerExit, type WorkerMessage, type WorkerProcess } from './worker-process.js';
import { WorkerPool, type WorkerInfo } from './worker-pool.js';

/**
 * The `python` settings (src/config/schema.ts holds their defaults, bounds and meaning), the output
 * limits, and where bubblewrap and setpriv are when not in the usual places (tests).
 */
export type PythonRuntimeOptions = Config['python'] &
  OutputLimits & {
    readonly logger: Logger;
    readonly bwrapPath?: string;
    readonly setprivPath?: string;
  };

/** After the deadline, how long the worker has to hand over its logs before it is killed. */
const DEADLINE_LOG_GRACE_MS = 50;
/** How often a running call's /tmp is counted (a script can make tens of thousands of files a second). */
const TMP_POLL_MS = 100;

/** A prepared script: its source, also as the JSON string the worker is sent (made once). */
type PreparedScript = Readonly<{ hash: string; source: string; sourceJson: string; bytes: number }>;

export class PythonRuntime implements Runtime {
  readonly language: Language = 'python';

  readonly #o: PythonRuntimeOptions;
  readonly #memoryLimitBytes: number;
  readonly #life: Lifecycle;
  readonly #pool: WorkerPool;
  #plan: LaunchPlan | undefined;
  #coldStartMs: number | undefined;
  /** Prepared scripts; a worker keeps its compiled copy of an evicted one, so its session goes on using it. */
  readonly #scripts: ScriptCache<PreparedScript>;
  readonly #preparing = new SingleFlight<string, PrepareResult>();

  constructor(options: PythonRuntimeOptions) {
    this.#o = options;
    this.#memoryLimitBytes = this.#o.memoryLimitMb * 1024 * 1024;
    this.#life = new Lifecycle({ language: 'python', name: 'the Python runtime', logger: this.#o.logger, stopGraceMs: this.#o.stopGraceMs });
    this.#pool = new WorkerPool({ ...this.#o, unavailable: () => this.#life.unavailable() });
    this.#scripts = createScriptCache<PreparedScript>(this.#o.maxScripts, this.#o.maxScriptBytes);
  }

  start(): Promise<void> {
    const hint = (why: string): string => (/bwrap|bubblewrap|sandbox|setpriv/.test(why) && !this.#o.allowUnsandboxed ? ' (PYTHON_ALLOW_UNSANDBOXED=true would run Python without a sandbox: unsafe)' : '');
    return this.#life.start(() => this.#start(), (error) => `the Python runtime cannot start: ${errorMessage(error)}${hint(errorMessage(error))}`);
  }

  /** Finds how to launch workers here and proves it by starting one; without a sandbox only if allowed and bubblewrap fails. */
  async #start(): Promise<void> {
    const started = performance.now();
    const guestPaths = GUEST_FILES.map((name) => projectPath('src/runtimes/python/guest', name));
    const [workerHostPath = ''] = guestPaths;
    const guestSources = await Promise.all(guestPaths.map((path) => readFile(path, 'utf8')));
    const { logger, poolSize, maxWorkers, cpuLimitSeconds, maxFileBytes, maxOpenFiles, maxLogEntries, maxLogBytes, maxResultBytes, startTimeoutMs, preload } = this.#o;
    // A reply carries the result and the logs, JSON-escaped (at worst 6 bytes per byte of logs).
    const maxLineBytes = maxResultBytes + 6 * maxLogBytes + 1024 * 1024;
    // guest/worker.py's Config: the limits it sets on itself before it reads any request.
    const limits = { memoryLimitBytes: this.#memoryLimitBytes, cpuLimitSeconds, maxFileBytes, maxOpenFiles, maxLogEntries, maxLogBytes, maxResultBytes };
    let failure: unknown;
    for (const mode of this.#o.allowUnsandboxed ? (['sandboxed', 'unsandboxed'] as const) : (['sandboxed'] as const)) {
      try {
        const plan = await planLaunch({ ...this.#o, workerHostPath }, mode);
        const compilerConfig = JSON.stringify({ ...limits, ...plan.workerConfig });
        const config = preload.length > 0 ? JSON.stringify({ ...limits, ...plan.workerConfig, preload }) : compilerConfig;
        this.#coldStartMs = await this.#pool.open({ plan, guestSources, config, compilerConfig, maxLineBytes, startTimeoutMs });
        this.#plan = plan;
        break;
      } catch (error) {
        failure = error;
      }
    }
    if (!this.#plan) throw failure;
    if (this.#plan.kind === 'none') logger.warn({ details: this.#plan.details }, 'python runtime: running scripts WITHOUT a sandbox (PYTHON_ALLOW_UNSANDBOXED)');
    logger.info({ sandbox: this.#plan.kind, poolSize, maxWorkers, coldStartMs: this.#coldStartMs, startMs: roundMs(performance.now() - started) }, 'python runtime started');
  }

  /** Calls in flight may finish within stopGraceMs (each is bounded by its own deadline); then a killed worker ends its call with RUNTIME_UNAVAILABLE. */
  stop(): Promise<void> {
    return this.#life.stop({ drain: () => this.#pool.close(), force: () => this.#pool.killAll().then(() => this.#scripts.clear()) });
  }

  health(): RuntimeHealth {
    const { poolSize, maxWorkers, maxQueue, memoryLimitMb } = this.#o;
    const details = { ...this.#plan?.details, ...this.#pool.stats(), scripts: this.#scripts.size, poolSize, maxWorkers, maxQueue, memoryLimitMb, workerStartMs: this.#coldStartMs, packages: this.#packagesHealth() };
    const notRunning = this.#life.notRunning(details);
    if (notRunning) return notRunning;
    if (this.#plan?.kind === 'none') return { status: 'degraded', reason: 'running Python WITHOUT a sandbox (PYTHON_ALLOW_UNSANDBOXED=true): scripts can reach the host', details };
    const startFailure = this.#pool.startFailure;
    if (startFailure) return { status: 'degraded', reason: `workers fail to start: ${startFailure}`, details };
    return { status: 'up', details };
  }

  /** Where packages come from, and how the last session worker's preload went (a failed module is named; the worker serves anyway). */
  #packagesHealth(): Record<string, unknown> {
    const { packagesDir, systemPackages, preload } = this.#o;
    const last = this.#pool.lastPreload;
    return { dir: packagesDir ?? null, system: systemPackages, preload, ...(last ? { preloadMs: last.ms, preloadFailed: last.failed } : {}) };
  }

  /** The workers as the host sees them (operators and tests: pids to inspect or signal). */
  workers(): WorkerInfo[] {
    return this.#pool.list();
  }

  /** Python takes no compile options and no artifact: both are ignored if given. */
  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    this.#life.assertRunning();
    const { scriptHash, source } = request;
    if (typeof source !== 'string') return { ok: false, error: { kind: 'InvalidScript', message: 'script source must be a string' } };
    if (this.#scripts.get(scriptHash)?.source === source) return { ok: true, compileMs: 0 };
    return this.#life.track(() => this.#preparing.run(scriptHash, () => this.#compile(scriptHash, source)));
  }

  async #compile(hash: string, source: string): Promise<PrepareResult> {
    const sourceJson = JSON.stringify(source);
    const worker = await this.#pool.acquire(undefined, this.#o.prepareTimeoutMs);
    const timer = setTimeout(() => this.#pool.kill(worker, 'prepare-timeout'), this.#o.prepareTimeoutMs);
    try {
      const reply = await worker.request('compile', `"hash":${JSON.stringify(hash)},"source":${sourceJson}`);
      if (reply.ok !== true) return { ok: false, error: guestCompileFailure(reply.error) };
      this.#scripts.set(hash, { hash, source, sourceJson, bytes: source.length * 2 });
      return { ok: true, compileMs: typeof reply.ms === 'number' ? reply.ms : 0 };
    } catch (error) {
      if (!(error instanceof WorkerGone)) throw error;
      if (error.exit.reason === 'stop' || !this.#life.running) throw this.#life.unavailable();
      if (error.exit.reason === 'prepare-timeout') {
        return { ok: false, error: { kind: 'TimeoutError', message: `the script did not compile within ${this.#o.prepareTimeoutMs} ms` } };
      }
      this.#o.logger.error({ exit: error.exit }, 'python runtime: a worker died while compiling');
      throw new ServiceError('INTERNAL_ERROR', 'the Python runtime failed to compile the script (its worker died)');
    } finally {
      clearTimeout(timer);
      this.#pool.handBack(worker);
    }
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    this.#life.assertRunning();
    const script = this.#scripts.get(request.scriptHash);
    if (!script) return NOT_PREPARED;
    const json = eventJson(request);
    const timeoutMs = Math.max(1, Math.floor(request.timeoutMs));
    return this.#life.track(async () => {
      const worker = await this.#pool.acquire(request.instanceKey, timeoutMs);
      try {
        return await this.#invoke(worker, script, request.instanceKey, json, timeoutMs);
      } finally {
        this.#pool.handBack(worker);
      }
    });
  }

  release(instanceKey: string): void {
    try {
      this.#pool.endSession(instanceKey);
    } catch (error) {
      this.#o.logger.warn({ err: error, instanceKey }, 'python runtime: release failed');
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
      graceTimer = setTimeout(() => this.#pool.kill(worker, 'timeout'), DEADLINE_LOG_GRACE_MS);
    }, timeoutMs);

    let reply: WorkerMessage | undefined;
    const tmpPoll = setInterval(() => this.#checkTmp(worker), TMP_POLL_MS);
    const run = (withSource: boolean): Promise<WorkerMessage> =>
      worker.request('run', `"hash":${JSON.stringify(script.hash)}${withSource ? `,"source":${script.sourceJson}` : ''},"event":${eventJson}`);
    try {
      const withSource = !worker.compiled.has(script.hash);
      reply = await run(withSource);
      // The worker lost the script (it cannot, short of a script tampering with it): send it again.
      if (reply.s === 'not_prepared' && !withSource && !timedOut) reply = await run(true);
      worker.compiled.add(script.hash);
    } catch (error) {
      if (!(error instanceof WorkerGone)) throw error;
      // Past the deadline, the kill that ended it is the timeout.
      if (!timedOut || error.exit.reason === 'tmp-files') return this.#died(error.exit, elapsed());
    } finally {
      clearTimeout(deadlineTimer);
      clearTimeout(graceTimer);
      clearInterval(tmpPoll);
    }
    if (!timedOut) this.#checkTmp(worker);
    if (worker.killReason === 'tmp-files') return this.#died({ reason: 'tmp-files' }, elapsed());
    if (timedOut || !reply) {
      this.#pool.kill(worker, 'timeout');
      return { status: 'timeout', limitMs: timeoutMs, logs: reply ? guestLogs(reply.l) : [], stats: { durationMs: elapsed() } };
    }
    // A script can change its worker's limits (same interpreter): the host enforces them again, measuring
    // the result only when its reply line is long enough to hold one over the limit.
    return boundOutput(this.#toResult(worker, reply, elapsed()), this.#o, worker.lastReplyBytes <= this.#o.maxResultBytes ? worker.lastReplyBytes : undefined);
  }

  #toResult(worker: WorkerProcess, reply: WorkerMessage, durationMs: number): InvocationResult {
    const logs = guestLogs(reply.l);
    const stats = typeof reply.m === 'number' && Number.isFinite(reply.m) ? { durationMs, memoryUsageBytes: reply.m } : { durationMs };
    switch (reply.s) {
      case 'ok':
        return { status: 'ok', result: reply.r ?? null, logs, stats };
      case 'error':
        return { status: 'error', error: guestScriptError(reply.e), logs, stats };
      case 'memory': {
        // The worker's memory is spent and its state suspect: a fresh one takes its place.
        this.#pool.kill(worker, 'memory');
        const detail = guestScriptError(reply.e).message;
        const message = `script exceeded the memory limit of ${this.#o.memoryLimitMb} MiB (${this.#memoryLimitBytes} bytes)${detail ? `: ${detail}` : ''}`;
        return { status: 'memory_limit', limitBytes: this.#memoryLimitBytes, message, logs, stats };
      }
      case 'output_limit': {
        const message = `result is ${typeof reply.n === 'number' ? reply.n : 'more than'} bytes of JSON, over the limit of ${this.#o.maxResultBytes} bytes`;
        return { status: 'output_limit', limitBytes: this.#o.maxResultBytes, message, logs, stats };
      }
      default:
        // Only a script writing to the protocol itself gets here; it fooled no one but itself.
        this.#pool.kill(worker, 'protocol');
        return { status: 'error', error: { name: 'WorkerProtocolError', message: 'the worker sent a reply the runtime cannot read' }, logs: [], stats };
    }
  }

  /** The worker ended before it answered: the call's result, or RUNTIME_UNAVAILABLE while stopping. */
  #died(exit: Partial<WorkerExit>, durationMs: number): InvocationResult {
    if (exit.reason === 'stop' || !this.#life.running) throw this.#life.unavailable();
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    const [name, message] =
      exit.reason === 'protocol'
        ? ['WorkerProtocolError', 'the worker broke the protocol (the script wrote to it?) and was replaced']
        : exit.reason === 'tmp-files'
          ? ['TmpFilesLimitError', `the script made more than ${this.#o.maxTmpFiles} files in /tmp (its limit); its worker was replaced`]
          : exit.signal === 'SIGXCPU'
            ? ['CpuLimitError', `the worker used up its CPU time (${this.#o.cpuLimitSeconds} s per worker) and was replaced`]
            : ['WorkerCrashed', `the Python worker running the script ${how}; a fresh worker replaces it`];
    return { status: 'error', error: { name, message }, logs: [], stats: { durationMs } };
  }

  /** Kills a worker whose /tmp holds more files than allowed; its call then fails with TmpFilesLimitError. */
  #checkTmp(worker: WorkerProcess): void {
    if (worker.killReason !== undefined) return;
    const files = worker.tmpFiles();
    // The tmpfs root itself is one inode.
    if (files !== undefined && files - 1 > this.#o.maxTmpFiles) {
      this.#o.logger.warn({ worker: worker.id, files }, 'python runtime: a script filled /tmp with files; killing its worker');
      this.#pool.kill(worker, 'tmp-files');
    }
  }
}
