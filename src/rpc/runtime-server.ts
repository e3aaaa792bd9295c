/**
 * Serves any `Runtime` over gRPC (proto/runtime.proto), plus the standard grpc.health.v1 service
 * so load balancers and Kubernetes probes can ask whether it serves. The runtime's own lifecycle
 * stays with the caller: this starts and stops the listener only.
 *
 * Faults of the runtime (thrown ServiceErrors) become gRPC statuses; failures of user code are
 * ordinary ExecuteResponse statuses, exactly as the interface returns them.
 */
import * as grpc from '@grpc/grpc-js';

import type { RuntimeTlsConfig } from '../config/config.js';
import { isServiceError } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import { traceGrpcServerCall } from '../observability/grpc-tracing.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { LogRing } from './log-ring.js';
import { createRuntimeCalls, DeadlinePassed, InvalidWireRequest } from './runtime-calls.js';
import {
  ANSWERED_BY_RUNTIME,
  loadProtos,
  RUNTIME_SERVICE_NAME,
  type WireGetLogsRequest,
  type WireGetLogsResponse,
  type WireGetMetricsResponse,
  type WireHealthCheckRequestStd,
  type WireHealthCheckResponseStd,
  type WireServingStatus,
  type WireUpdateConfigRequest,
  type WireUpdateConfigResponse,
} from './runtime-proto.js';
import {
  healthToWire,
  type WireEmpty,
  type WireExecuteRequest,
  type WireExecuteResponse,
  type WireHealthCheckResponse,
  type WirePrepareRequest,
  type WirePrepareResponse,
  type WireReleaseRequest,
} from './runtime-wire.js';

export interface RuntimeServerOptions {
  readonly logger: Logger;
  /** Where GetLogs reads recent lines from (the ring the logger writes to); GetLogs answers empty without it. */
  readonly logs?: LogRing;
  /** Largest message accepted or sent (config `runtimeCalls.maxMessageBytes`). */
  readonly maxMessageBytes: number;
  /**
   * Mutual TLS (PEM): serve TLS with `cert`/`key` and refuse every client whose certificate is not
   * signed by `ca`. Absent: plaintext.
   */
  readonly tls?: RuntimeTlsConfig;
}

export interface RuntimeServer {
  /** Binds and serves; resolves to the bound port (pass 0 for any free port). */
  start(host: string, port: number): Promise<number>;
  /** Refuses new calls, lets in-flight calls finish for up to `graceMs`, then cancels the rest. */
  stop(graceMs: number): Promise<void>;
}

const HEALTH_WATCH_INTERVAL_MS = 1000;
const RPC_NAMES = ['Prepare', 'Execute', 'Release', 'HealthCheck', 'GetMetrics', 'GetLogs', 'UpdateConfig'] as const;
type RpcName = (typeof RPC_NAMES)[number];
/** Polled in the background: a span only when the caller's trace asks for one. */
const UNTRACED_ROOT_RPCS: ReadonlySet<RpcName> = new Set<RpcName>(['HealthCheck', 'GetMetrics', 'GetLogs']);
const grpcCodeOf = (error: unknown): grpc.status => grpcStatusOf(error).code;

/** A request this server refuses with a specific gRPC status (malformed fields, a passed deadline). */
class RpcStatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function invalidArgument(message: string): RpcStatusError {
  return new RpcStatusError(grpc.status.INVALID_ARGUMENT, message);
}

/** ServiceError code -> gRPC status: the runtime being away is retryable elsewhere; a bad request is not. */
export function grpcStatusOf(error: unknown): { code: grpc.status; message: string } {
  if (error instanceof RpcStatusError) return { code: error.code, message: error.message };
  if (error instanceof InvalidWireRequest) return { code: grpc.status.INVALID_ARGUMENT, message: error.message };
  if (error instanceof DeadlinePassed) return { code: grpc.status.DEADLINE_EXCEEDED, message: error.message };
  if (isServiceError(error)) {
    switch (error.code) {
      case 'RUNTIME_UNAVAILABLE':
      case 'SERVICE_UNAVAILABLE':
        return { code: grpc.status.UNAVAILABLE, message: error.message };
      case 'INVALID_REQUEST':
      case 'INVALID_PARAMS':
        return { code: grpc.status.INVALID_ARGUMENT, message: error.message };
      default:
        return { code: grpc.status.INTERNAL, message: error.message };
    }
  }
  return { code: grpc.status.INTERNAL, message: error instanceof Error ? error.message : String(error) };
}

/** Milliseconds left before the call's deadline; Infinity when the caller set none. */
function remainingMs(call: grpc.ServerUnaryCall<unknown, unknown>): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}

/** Plaintext, or TLS that requires a client certificate signed by the CA (checkClientCertificate). */
function serverCredentials(tls: RuntimeTlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
}

export function createRuntimeServer(runtime: Runtime, options: RuntimeServerOptions): RuntimeServer {
  const { logger } = options;
  const protos = loadProtos();
  const { maxMessageBytes } = options;
  const startedAt = Date.now();
  const calls = Object.fromEntries(RPC_NAMES.map((name) => [name, 0])) as Record<RpcName, number>;
  const faults = Object.fromEntries(RPC_NAMES.map((name) => [name, 0])) as Record<RpcName, number>;
  let inFlight = 0;
  let stopping = false;
  let server: grpc.Server | undefined;
  const served = createRuntimeCalls(runtime, { isStopping: () => stopping });

  /** Runs one unary handler: counts it, and turns a throw into a gRPC status. */
  function unary<Req, Res>(name: RpcName, handle: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      calls[name]++;
      inFlight++;
      // A SERVER span continuing the caller's trace (traceparent in the metadata).
      const traced = { service: RUNTIME_SERVICE_NAME, method: name, metadata: call.metadata, statusOf: grpcCodeOf, root: !UNTRACED_ROOT_RPCS.has(name) };
      traceGrpcServerCall(traced, () => handle(call.request, call)).then(
        (response) => {
          inFlight--;
          callback(null, response);
        },
        (error: unknown) => {
          inFlight--;
          faults[name]++;
          const status = grpcStatusOf(error);
          if (status.code !== grpc.status.INVALID_ARGUMENT) logger.warn({ err: error, rpc: name, code: grpc.status[status.code] }, `runtime ${name} failed`);
          // Marks the status as the runtime's own answer, not a transport fault (the client does not eject for it).
          const metadata = new grpc.Metadata();
          metadata.set(ANSWERED_BY_RUNTIME, '1');
          callback({ code: status.code, details: status.message, metadata });
        },
      );
    };
  }

  const handlers: grpc.UntypedServiceImplementation = {
    Prepare: unary<WirePrepareRequest, WirePrepareResponse>('Prepare', (request) => served.prepare(request)),

    // The caller's deadline caps the invocation: an answer after it would reach no one.
    Execute: unary<WireExecuteRequest, WireExecuteResponse>('Execute', (request, call) => served.execute(request, remainingMs(call))),

    Release: unary<WireReleaseRequest, WireEmpty>('Release', (request) => {
      served.release(request.instance_key);
      return Promise.resolve({});
    }),

    HealthCheck: unary<WireEmpty, WireHealthCheckResponse>('HealthCheck', () => Promise.resolve(healthToWire(served.health()))),

    GetMetrics: unary<WireEmpty, WireGetMetricsResponse>('GetMetrics', () => {
      const metrics = {
        language: runtime.language,
        health: served.health(),
        uptime_ms: Date.now() - startedAt,
        in_flight: inFlight,
        calls,
        faults,
        execute_statuses: served.executeStatuses,
      };
      return Promise.resolve({ metrics_json: JSON.stringify(metrics) });
    }),

    GetLogs: unary<WireGetLogsRequest, WireGetLogsResponse>('GetLogs', (request) => Promise.resolve({ lines: options.logs?.lines(request.limit) ?? [] })),

    UpdateConfig: unary<WireUpdateConfigRequest, WireUpdateConfigResponse>('UpdateConfig', (request) => {
      if (request.log_level === undefined) return Promise.resolve({ applied: false, message: 'nothing to change: only log_level can be updated at run time' });
      const level = request.log_level;
      if (level !== 'silent' && !(level in logger.levels.values)) {
        return Promise.reject(invalidArgument(`unknown log level "${level}"; one of ${Object.keys(logger.levels.values).join(', ')}, silent`));
      }
      const previous = logger.level;
      logger.level = level;
      logger.info({ previous, level }, 'log level changed over gRPC');
      return Promise.resolve({ applied: true, message: `log level ${previous} -> ${level}` });
    }),
  };

  function servingStatus(service: string): WireServingStatus | undefined {
    if (service !== '' && service !== RUNTIME_SERVICE_NAME) return undefined;
    return served.health().status === 'unavailable' ? 'NOT_SERVING' : 'SERVING';
  }

  const healthHandlers: grpc.UntypedServiceImplementation = {
    Check: ((call: grpc.ServerUnaryCall<WireHealthCheckRequestStd, WireHealthCheckResponseStd>, callback: grpc.sendUnaryData<WireHealthCheckResponseStd>) => {
      const status = servingStatus(call.request.service);
      if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
      else callback(null, { status });
    }) as grpc.handleUnaryCall<WireHealthCheckRequestStd, WireHealthCheckResponseStd>,
    Watch: ((call: grpc.ServerWritableStream<WireHealthCheckRequestStd, WireHealthCheckResponseStd>) => {
      // Sends the status now and again whenever it changes, until the client goes away.
      let last: WireServingStatus | undefined;
      const send = (): void => {
        const status = servingStatus(call.request.service) ?? 'SERVICE_UNKNOWN';
        if (status !== last) {
          last = status;
          call.write({ status });
        }
        if (stopping) finish();
      };
      const timer = setInterval(send, HEALTH_WATCH_INTERVAL_MS);
      const finish = (): void => {
        clearInterval(timer);
        if (!call.cancelled && !call.writableEnded) call.end();
      };
      call.on('cancelled', () => clearInterval(timer));
      send();
    }) as grpc.handleServerStreamingCall<WireHealthCheckRequestStd, WireHealthCheckResponseStd>,
  };

  return {
    async start(host, port) {
      if (server) throw new Error('runtime server already started');
      stopping = false;
      const instance = new grpc.Server({
        'grpc.max_receive_message_length': maxMessageBytes,
        'grpc.max_send_message_length': maxMessageBytes,
        'grpc.keepalive_permit_without_calls': 1,
      });
      instance.addService(protos.runtimeService, handlers);
      instance.addService(protos.healthService, healthHandlers);
      const target = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
      const bound = await new Promise<number>((resolve, reject) => {
        instance.bindAsync(target, serverCredentials(options.tls), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
      });
      server = instance;
      logger.info({ host, port: bound, tls: options.tls ? 'mutual' : 'off' }, `${runtime.language} runtime server listening`);
      return bound;
    },

    async stop(graceMs) {
      const instance = server;
      if (!instance) return;
      server = undefined;
      stopping = true;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          logger.warn({ inFlight, graceMs }, 'runtime server: grace period over, cancelling the calls still running');
          instance.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        instance.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
