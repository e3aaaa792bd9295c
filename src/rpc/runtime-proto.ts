/**
 * proto/runtime.proto and proto/health.proto loaded at run time (no generated code), and the
 * shapes of the gRPC-only messages (operator calls, grpc.health.v1) as proto-loader hands them
 * over. The runtime messages and their conversions are in runtime-wire.ts, shared with the frame
 * transport of local runtime processes.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { projectPath } from '../config/paths.js';
import type {
  WireEmpty,
  WireExecuteRequest,
  WireExecuteResponse,
  WireHealthCheckResponse,
  WirePrepareRequest,
  WirePrepareResponse,
  WireReleaseRequest,
} from './runtime-wire.js';

/** Same options on both sides: snake_case fields, enums as names, numbers as JS numbers. */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/** Trailer on every error status a runtime server answered itself, as opposed to a transport fault. */
export const ANSWERED_BY_RUNTIME = 'lm-answered-by-runtime';

export const RUNTIME_SERVICE_NAME = 'lambda.runtime.v1.RuntimeService';

export interface WireGetMetricsResponse {
  metrics_json: string;
}
export interface WireGetLogsRequest {
  limit: number;
}
export interface WireGetLogsResponse {
  lines: string[];
}
export interface WireUpdateConfigRequest {
  log_level?: string;
}
export interface WireUpdateConfigResponse {
  applied: boolean;
  message: string;
}
export type WireServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
export interface WireHealthCheckRequestStd {
  service: string;
}
export interface WireHealthCheckResponseStd {
  status: WireServingStatus;
}

type UnaryMethod<Req, Res> = (request: Req, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall;

/** The client of RuntimeService as proto-loader builds it (only the methods this code calls). */
export interface RuntimeServiceClient extends grpc.Client {
  Prepare: UnaryMethod<WirePrepareRequest, WirePrepareResponse>;
  Execute: UnaryMethod<WireExecuteRequest, WireExecuteResponse>;
  Release: UnaryMethod<WireReleaseRequest, WireEmpty>;
  HealthCheck: UnaryMethod<WireEmpty, WireHealthCheckResponse>;
  GetMetrics: UnaryMethod<WireEmpty, WireGetMetricsResponse>;
  GetLogs: UnaryMethod<WireGetLogsRequest, WireGetLogsResponse>;
  UpdateConfig: UnaryMethod<WireUpdateConfigRequest, WireUpdateConfigResponse>;
}
export interface HealthClient extends grpc.Client {
  Check: UnaryMethod<WireHealthCheckRequestStd, WireHealthCheckResponseStd>;
}
type ClientConstructor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => C;

export interface LoadedProtos {
  readonly runtimeService: grpc.ServiceDefinition;
  readonly RuntimeClient: ClientConstructor<RuntimeServiceClient>;
  readonly healthService: grpc.ServiceDefinition;
  readonly HealthClient: ClientConstructor<HealthClient>;
}

let loaded: LoadedProtos | undefined;

/** Parses the .proto files once per process. */
export function loadProtos(): LoadedProtos {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync([projectPath('proto', 'runtime.proto'), projectPath('proto', 'health.proto')], LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    lambda: { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const runtimeCtor = pkg.lambda.runtime.v1.RuntimeService;
  const healthCtor = pkg.grpc.health.v1.Health;
  loaded = {
    runtimeService: runtimeCtor.service,
    RuntimeClient: runtimeCtor as unknown as ClientConstructor<RuntimeServiceClient>,
    healthService: healthCtor.service,
    HealthClient: healthCtor as unknown as ClientConstructor<HealthClient>,
  };
  return loaded;
}
