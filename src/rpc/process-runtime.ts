/**
 * A `Runtime` in a sandboxed child process of the service (a local runtime process), reached over
 * frames on a socket pair (frame-peer.ts): one endpoint of a RuntimePool, as a gRPC runtime server
 * is (remote-runtime.ts), so balancing, ejection, retries and re-prepare are the pool's, the same
 * for both. The process itself is supervised by process-supervisor.ts:
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
 * limits (runtime-wire.ts), errors keep only codes this side accepts (process-child.ts), its log
 * lines are bounded in size and rate (process-logs.ts).
 */
import { waitAtMost } from '../common/idle.js';
import { ServiceError } from '../errors/service-error.js';
import { eventJson } from '../runtimes/kit/invocation.js';
import type { OutputLimits } from '../runtimes/kit/output-limits.js';
import type { ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, RuntimeHealth } from '../runtimes/runtime.js';
import { CallTimedOut, PeerClosed, type FrameMessage } from './frame-peer.js';
import { killChild, type Child } from './process-child.js';
import { crashedCallError } from './process-exit.js';
import { ProcessSupervisor, type ProcessSupervisorOptions } from './process-supervisor.js';
import type { EndpointRuntime } from './runtime-pool.js';
import { invocationResultFromWire, prepareResultFromWire, type WireExecuteResponse, type WirePrepareResponse } from './runtime-wire.js';

export interface ProcessRuntimeOptions extends ProcessSupervisorOptions {
  readonly outputLimits: OutputLimits;
  /** What a prepare may take before the process counts as stuck (a Rust compile, with queueing). */
  readonly prepareTimeoutMs: number;
}

/** Added to an execute's own limit (twice: it may wait for a free isolate or worker that long first). */
const EXECUTE_MARGIN_MS = 5000;
/** How long a call whose channel closed waits for the process's exit, to say what killed it. */
const EXIT_WAIT_MS = 2000;

export class ProcessRuntime implements EndpointRuntime {
  readonly language: Language;
  readonly address: string;
  readonly #o: ProcessRuntimeOptions;
  readonly #process: ProcessSupervisor;

  constructor(options: ProcessRuntimeOptions) {
    this.language = options.language;
    this.address = options.address;
    this.#o = options;
    this.#process = new ProcessSupervisor(options);
  }

  /** Starts the process and waits until it is ready, or has failed (then it reports unavailable and keeps trying). */
  start(): Promise<void> {
    return this.#process.start();
  }

  stop(): Promise<void> {
    return this.#process.stop();
  }

  status(): RuntimeHealth['status'] {
    return this.#process.status();
  }

  health(): RuntimeHealth {
    return this.#process.health();
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const child = await this.#process.readyChild(this.#o.prepareTimeoutMs);
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
    const child = await this.#process.readyChild(request.timeoutMs);
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
        killChild(child, `a call ran ${overdueMs} ms, past twice its time limit, and the process was killed`, 'unresponsive');
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
    this.#process.ready?.peer.notify('release', { instance_key: instanceKey });
  }

  /**
   * What a call that failed on the channel becomes. The channel closed: the process is gone (or
   * going), and its exit says why: the call was running in it, so it failed with the process.
   */
  async #callFailed(child: Child, error: unknown, what: string): Promise<unknown> {
    if (error instanceof ServiceError) return error;
    if (error instanceof PeerClosed) {
      const exit = (await waitAtMost(child.exited, EXIT_WAIT_MS)) ? await child.exited : undefined;
      if (this.#process.stopping) return new ServiceError('RUNTIME_UNAVAILABLE', `the ${this.language} runtime is stopping`, { address: this.address });
      return crashedCallError(this.language, exit, child.cgroup?.limits, child.callsAtClose);
    }
    if (error instanceof CallTimedOut) {
      killChild(child, `a ${what} was not answered in ${this.#o.prepareTimeoutMs} ms and the process was killed`, 'unresponsive');
      return new ServiceError('RUNTIME_UNAVAILABLE', `the ${this.language} runtime process did not answer a ${what} in time and was replaced`, { address: this.address });
    }
    return error;
  }
}

export function createProcessRuntime(options: ProcessRuntimeOptions): ProcessRuntime {
  return new ProcessRuntime(options);
}
