/**
 * A `Runtime` served by another process over gRPC (src/rpc/runtime-server.ts). One grpc-js client:
 * its channel multiplexes every call over one HTTP/2 connection and reconnects on its own.
 *
 * health() never makes a call: it reports the last HealthCheck, polled in the background. Faults
 * of the transport become ServiceError RUNTIME_UNAVAILABLE naming the address, so the service
 * answers 503 instead of hanging; failures of user code arrive as ordinary results.
 */
import * as grpc from '@grpc/grpc-js';

import type { Config, RuntimeTlsConfig } from '../config/config.js';
import { isServiceError, ServiceError } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import { grpcClientTracing } from '../observability/grpc-tracing.js';
import type { OutputLimits } from '../runtimes/kit/output-limits.js';
import type { ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from '../runtimes/runtime.js';
import { ANSWERED_BY_RUNTIME, loadProtos, type RuntimeServiceClient } from './runtime-proto.js';
import {
  healthFromWire,
  invocationResultFromWire,
  prepareResultFromWire,
  type WireExecuteResponse,
  type WireHealthCheckResponse,
  type WirePrepareResponse,
} from './runtime-wire.js';

export type RemoteRuntimeTiming = Pick<Config['runtimeCalls'], 'deadlineMarginMs' | 'prepareDeadlineMs' | 'healthIntervalMs' | 'startTimeoutMs' | 'maxMessageBytes'>;

export interface RemoteRuntimeOptions {
  readonly language: Language;
  /** `host:port` of a runtime server. */
  readonly address: string;
  readonly logger: Logger;
  /** Deadlines, health polling, message size (config `runtimeCalls`). */
  readonly timing: RemoteRuntimeTiming;
  /** What a result may carry back, enforced on what the server sent. */
  readonly outputLimits: OutputLimits;
  /** Mutual TLS (PEM); absent: plaintext. */
  readonly tls?: RuntimeTlsConfig | undefined;
}

const HEALTH_DEADLINE_MS = 1500;

/**
 * Transport failures that happen before a call reaches the server: no connection could be made
 * (refused, unreachable, name not resolved). The call did not run, so it may go elsewhere.
 */
const NOT_CONNECTED = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|Name resolution failed|DNS resolution failed|failed to connect/i;

/** Whether an error from a RemoteRuntime call is known to have happened before the call ran remotely. */
export function isNotRunFailure(error: unknown): boolean {
  return isServiceError(error) && error.code === 'RUNTIME_UNAVAILABLE' && (error.details as { notRun?: unknown } | undefined)?.notRun === true;
}
const RELEASE_DEADLINE_MS = 5000;

export class RemoteRuntime implements Runtime {
  readonly language: Language;
  readonly #address: string;
  readonly #logger: Logger;
  readonly #timing: RemoteRuntimeTiming;
  readonly #client: RuntimeServiceClient;
  readonly #outputLimits: OutputLimits;
  #health: RuntimeHealth = { status: 'unavailable', reason: 'not started' };
  #lastCheckedAt: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #stopped = false;

  constructor(options: RemoteRuntimeOptions) {
    this.language = options.language;
    this.#address = options.address;
    this.#logger = options.logger;
    this.#timing = options.timing;
    const { maxMessageBytes } = options.timing;
    this.#outputLimits = options.outputLimits;
    const { RuntimeClient } = loadProtos();
    const { tls } = options;
    const credentials = tls ? grpc.credentials.createSsl(tls.ca, tls.key, tls.cert) : grpc.credentials.createInsecure();
    this.#client = new RuntimeClient(options.address, credentials, {
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      // Find a dead peer (machine gone, no RST) within seconds, not at the OS TCP timeout.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 1,
      // Reconnect promptly after a runtime restarts.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5000,
      // A CLIENT span per call made inside a trace, traceparent in the metadata (src/observability/grpc-tracing.ts).
      interceptors: [grpcClientTracing(options.address)],
    });
  }

  get address(): string {
    return this.#address;
  }

  /** Waits for the first health answer (bounded); a runtime not reachable yet is reported unavailable, not thrown. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#poll(true);
    if (this.#health.status === 'unavailable') this.#logger.warn({ address: this.#address, reason: this.#health.reason }, `${this.language} runtime at ${this.#address} is not available yet`);
    this.#timer = setInterval(() => void this.#poll(false), this.#timing.healthIntervalMs);
    this.#timer.unref();
  }

  /** The remote process stops on its own schedule; this only closes the channel (in-flight calls end UNAVAILABLE). */
  stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#client.close();
    this.#health = { status: 'unavailable', reason: 'stopped' };
    return Promise.resolve();
  }

  status(): RuntimeHealth['status'] {
    return this.#health.status;
  }

  health(): RuntimeHealth {
    return { ...this.#health, details: { ...this.#health.details, address: this.#address, remote: true, lastCheckedAt: this.#lastCheckedAt } };
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const response = await this.#call<WirePrepareResponse>('Prepare', this.#timing.prepareDeadlineMs, (options, callback) =>
      this.#client.Prepare(
        {
          script_hash: request.scriptHash,
          source: request.source,
          compile_options_json: request.compileOptions ? JSON.stringify(request.compileOptions) : '',
          ...(request.artifact ? { artifact: request.artifact } : {}),
        },
        options,
        callback,
      ),
    );
    return prepareResultFromWire(response);
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    const response = await this.#call<WireExecuteResponse>('Execute', request.timeoutMs + this.#timing.deadlineMarginMs, (options, callback) =>
      this.#client.Execute(
        { script_hash: request.scriptHash, instance_key: request.instanceKey, event_json: JSON.stringify(request.event), timeout_ms: Math.max(1, Math.round(request.timeoutMs)) },
        options,
        callback,
      ),
    );
    let result: InvocationResult | undefined;
    try {
      result = invocationResultFromWire(response, this.#outputLimits);
    } catch (error) {
      throw new ServiceError('INTERNAL_ERROR', `${this.language} runtime at ${this.#address} sent a result that is not JSON: ${(error as Error).message}`);
    }
    if (!result) throw new ServiceError('INTERNAL_ERROR', `${this.language} runtime at ${this.#address} answered an unknown status "${response.status}"`);
    return result;
  }

  /** Fire and forget: a lost release only keeps warm state until the remote evicts it. */
  release(instanceKey: string): void {
    if (this.#stopped) return;
    try {
      this.#client.Release({ instance_key: instanceKey }, { deadline: Date.now() + RELEASE_DEADLINE_MS }, (error) => {
        if (error) this.#logger.debug({ err: error, address: this.#address, instanceKey }, 'remote release failed');
      });
    } catch (error) {
      this.#logger.debug({ err: error, address: this.#address }, 'remote release failed');
    }
  }

  /** One unary call with a deadline; transport faults become ServiceErrors naming the address. */
  #call<Res>(
    rpc: string,
    deadlineMs: number,
    invoke: (options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall,
  ): Promise<Res> {
    if (this.#stopped) return Promise.reject(new ServiceError('RUNTIME_UNAVAILABLE', `${this.language} runtime client for ${this.#address} is stopped`, { address: this.#address, rpc, notRun: true }));
    return new Promise<Res>((resolve, reject) => {
      invoke({ deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(this.#toServiceError(rpc, error, deadlineMs));
        else if (response === undefined) reject(new ServiceError('INTERNAL_ERROR', `${this.language} runtime at ${this.#address}: ${rpc} answered nothing`));
        else resolve(response);
      });
    });
  }

  #toServiceError(rpc: string, error: grpc.ServiceError, deadlineMs: number): ServiceError {
    const where = `${this.language} runtime at ${this.#address}`;
    const details = { address: this.#address, rpc, grpcCode: grpc.status[error.code] };
    switch (error.code) {
      case grpc.status.UNAVAILABLE: {
        // The runtime answering "unavailable" itself (e.g. its queue is full) is busy, not gone.
        if (error.metadata?.get(ANSWERED_BY_RUNTIME).length) return new ServiceError('RUNTIME_UNAVAILABLE', `${where}: ${error.details}`, details);
        // A transport fault: eject at once; the next good health check lets calls in again.
        this.#setHealth({ status: 'unavailable', reason: `${where} is unavailable: ${error.details}` });
        const notRun = NOT_CONNECTED.test(error.details);
        return new ServiceError('RUNTIME_UNAVAILABLE', `${where} is unavailable: ${error.details}`, { ...details, notRun });
      }
      case grpc.status.DEADLINE_EXCEEDED:
        return new ServiceError('RUNTIME_UNAVAILABLE', `${where} did not answer ${rpc} within ${deadlineMs} ms`, details);
      case grpc.status.CANCELLED:
        return new ServiceError('RUNTIME_UNAVAILABLE', `${where}: ${rpc} was cancelled (${error.details})`, details);
      case grpc.status.INVALID_ARGUMENT:
        return new ServiceError('INVALID_REQUEST', error.details, details);
      default:
        return new ServiceError('INTERNAL_ERROR', `${where}: ${rpc} failed: ${error.details}`, details);
    }
  }

  async #poll(first: boolean): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      // The first check waits for the channel to connect, so a runtime started just before us counts.
      if (first) await new Promise<void>((resolve) => this.#client.waitForReady(Date.now() + this.#timing.startTimeoutMs, () => resolve()));
      const response = await new Promise<WireHealthCheckResponse>((resolve, reject) => {
        this.#client.HealthCheck({}, { deadline: Date.now() + HEALTH_DEADLINE_MS }, (error, answer) =>
          error ? reject(error) : answer ? resolve(answer) : reject(new Error('empty answer')),
        );
      });
      this.#setHealth(healthFromWire(response));
    } catch (error) {
      const message = (error as grpc.ServiceError).details ?? (error as Error).message;
      this.#setHealth({ status: 'unavailable', reason: `${this.language} runtime at ${this.#address} is unreachable: ${message}` });
    } finally {
      this.#lastCheckedAt = new Date().toISOString();
      this.#polling = false;
    }
  }

  #setHealth(health: RuntimeHealth): void {
    if (this.#stopped) return;
    if (health.status !== this.#health.status) this.#logger.info({ address: this.#address, from: this.#health.status, to: health.status, reason: health.reason }, `${this.language} runtime health changed`);
    this.#health = health;
  }
}

export function createRemoteRuntime(options: RemoteRuntimeOptions): RemoteRuntime {
  return new RemoteRuntime(options);
}
