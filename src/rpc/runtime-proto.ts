/**
 * proto/runtime.proto and proto/health.proto loaded at run time, with the types generated from
 * them (src/rpc/generated/) for the gRPC-only messages (operator calls, grpc.health.v1) and the
 * clients. The runtime messages and their conversions are in runtime-wire.ts, shared with the frame
 * transport of local runtime processes.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { projectPath } from '../config/paths.js';
import type { HealthCheckRequest__Output as HealthCheckRequestStd__Output } from './generated/grpc/health/v1/HealthCheckRequest.js';
import type { HealthCheckResponse__Output as HealthCheckResponseStd__Output } from './generated/grpc/health/v1/HealthCheckResponse.js';
import type { HealthClient } from './generated/grpc/health/v1/Health.js';
import type { ExecuteRequest, ExecuteRequest__Output } from './generated/lambda/runtime/v1/ExecuteRequest.js';
import type { ExecuteResponse, ExecuteResponse__Output } from './generated/lambda/runtime/v1/ExecuteResponse.js';
import type { GetLogsRequest__Output } from './generated/lambda/runtime/v1/GetLogsRequest.js';
import type { GetLogsResponse__Output } from './generated/lambda/runtime/v1/GetLogsResponse.js';
import type { GetMetricsResponse__Output } from './generated/lambda/runtime/v1/GetMetricsResponse.js';
import type { HealthCheckResponse, HealthCheckResponse__Output } from './generated/lambda/runtime/v1/HealthCheckResponse.js';
import type { PrepareRequest, PrepareRequest__Output } from './generated/lambda/runtime/v1/PrepareRequest.js';
import type { PrepareResponse, PrepareResponse__Output } from './generated/lambda/runtime/v1/PrepareResponse.js';
import type { ReleaseRequest, ReleaseRequest__Output } from './generated/lambda/runtime/v1/ReleaseRequest.js';
import type { RuntimeServiceClient } from './generated/lambda/runtime/v1/RuntimeService.js';
import type { UpdateConfigRequest__Output } from './generated/lambda/runtime/v1/UpdateConfigRequest.js';
import type { UpdateConfigResponse__Output } from './generated/lambda/runtime/v1/UpdateConfigResponse.js';
import type {
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

// The gRPC-only messages and the clients, as generated from the protos (npm run gen:proto;
// `npm run check:generated` fails when they no longer match).
export type WireGetMetricsResponse = GetMetricsResponse__Output;
export type WireGetLogsRequest = GetLogsRequest__Output;
export type WireGetLogsResponse = GetLogsResponse__Output;
export type WireUpdateConfigRequest = UpdateConfigRequest__Output;
export type WireUpdateConfigResponse = UpdateConfigResponse__Output;
export type WireServingStatus = HealthCheckResponseStd__Output['status'];
export type WireHealthCheckRequestStd = HealthCheckRequestStd__Output;
export type WireHealthCheckResponseStd = HealthCheckResponseStd__Output;
export type { RuntimeServiceClient, HealthClient };

/**
 * The messages shared with the frame transport (runtime-wire.ts) are written by hand there; these
 * checks tie them to the proto: what a server sends must be what gRPC can encode, and what a
 * client receives must be what the code reads.
 */
type Holds<T extends true> = T;
type Fits<A, B> = [A] extends [B] ? true : false;
export type WireMatchesProto = [
  Holds<Fits<WirePrepareRequest, PrepareRequest>>,
  Holds<Fits<PrepareRequest__Output, WirePrepareRequest>>,
  Holds<Fits<WirePrepareResponse, PrepareResponse>>,
  Holds<Fits<PrepareResponse__Output, WirePrepareResponse>>,
  Holds<Fits<WireExecuteRequest, ExecuteRequest>>,
  Holds<Fits<ExecuteRequest__Output, WireExecuteRequest>>,
  Holds<Fits<WireExecuteResponse, ExecuteResponse>>,
  Holds<Fits<ExecuteResponse__Output, WireExecuteResponse>>,
  Holds<Fits<WireReleaseRequest, ReleaseRequest>>,
  Holds<Fits<ReleaseRequest__Output, WireReleaseRequest>>,
  Holds<Fits<WireHealthCheckResponse, HealthCheckResponse>>,
  Holds<Fits<HealthCheckResponse__Output, WireHealthCheckResponse>>,
];

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
