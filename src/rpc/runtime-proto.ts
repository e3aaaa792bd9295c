/**
 * proto/runtime.proto and proto/health.proto loaded at run time (no generated code), the wire
 * shapes of their messages as proto-loader hands them over, and the conversions between those
 * shapes and the `Runtime` interface's types. Server and client both use these, so a field is
 * mapped in one place only.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { projectPath } from '../config/paths.js';
import type { CompileFailure, InvocationResult, PrepareResult, RuntimeHealth, ScriptError } from '../runtimes/runtime.js';

/** Same options on both sides: snake_case fields, enums as names, numbers as JS numbers. */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/** Trailer on every error status a runtime server answered itself, as opposed to a transport fault. */
export const ANSWERED_BY_RUNTIME = 'lm-answered-by-runtime';

export const RUNTIME_SERVICE_NAME = 'lambda.runtime.v1.RuntimeService';

export interface WirePrepareRequest {
  script_hash: string;
  source: string;
  compile_options_json: string;
  artifact?: Uint8Array;
}
export interface WireCompileFailure {
  kind: string;
  message: string;
  line?: number;
  column?: number;
  diagnostics?: string;
}
export interface WirePrepareResponse {
  ok: boolean;
  compile_ms: number;
  artifact?: Uint8Array;
  error?: WireCompileFailure | null;
}
export interface WireExecuteRequest {
  script_hash: string;
  instance_key: string;
  event_json: string;
  timeout_ms: number;
}
export type WireExecuteStatus =
  | 'EXECUTE_STATUS_UNSPECIFIED'
  | 'EXECUTE_STATUS_OK'
  | 'EXECUTE_STATUS_ERROR'
  | 'EXECUTE_STATUS_TIMEOUT'
  | 'EXECUTE_STATUS_MEMORY_LIMIT'
  | 'EXECUTE_STATUS_OUTPUT_LIMIT'
  | 'EXECUTE_STATUS_NOT_PREPARED';
export interface WireScriptError {
  name: string;
  message: string;
  stack?: string;
  line?: number;
  column?: number;
}
export interface WireExecuteResponse {
  status: WireExecuteStatus;
  result_json: string;
  error?: WireScriptError | null;
  limit_ms: number;
  limit_bytes: number;
  message: string;
  logs: string[];
  duration_ms: number;
  memory_usage_bytes?: number;
}
export interface WireReleaseRequest {
  instance_key: string;
}
export type WireEmpty = Record<string, never>;
export interface WireHealthCheckResponse {
  status: string;
  reason?: string;
  details_json: string;
}
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

// ---- conversions ---------------------------------------------------------------------------

export function compileFailureToWire(error: CompileFailure): WireCompileFailure {
  return {
    kind: error.kind,
    message: error.message,
    ...(error.line !== undefined ? { line: error.line } : {}),
    ...(error.column !== undefined ? { column: error.column } : {}),
    ...(error.diagnostics !== undefined ? { diagnostics: error.diagnostics } : {}),
  };
}

export function prepareResultToWire(result: PrepareResult): WirePrepareResponse {
  if (result.ok) return { ok: true, compile_ms: result.compileMs, ...(result.artifact ? { artifact: result.artifact } : {}) };
  return { ok: false, compile_ms: 0, error: compileFailureToWire(result.error) };
}

export function prepareResultFromWire(response: WirePrepareResponse): PrepareResult {
  if (response.ok) {
    return { ok: true, compileMs: response.compile_ms, ...(response.artifact && response.artifact.length > 0 ? { artifact: new Uint8Array(response.artifact) } : {}) };
  }
  const error = response.error ?? { kind: 'Error', message: 'prepare failed without a reason' };
  return {
    ok: false,
    error: {
      kind: error.kind,
      message: error.message,
      ...(error.line !== undefined ? { line: error.line } : {}),
      ...(error.column !== undefined ? { column: error.column } : {}),
      ...(error.diagnostics !== undefined ? { diagnostics: error.diagnostics } : {}),
    },
  };
}

/** A script error's present fields; the wire message and the Runtime type have the same shape. */
function copyScriptError(error: ScriptError): WireScriptError {
  return {
    name: error.name,
    message: error.message,
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(error.line !== undefined ? { line: error.line } : {}),
    ...(error.column !== undefined ? { column: error.column } : {}),
  };
}

export function invocationResultToWire(result: InvocationResult): WireExecuteResponse {
  const base: WireExecuteResponse = {
    status: 'EXECUTE_STATUS_UNSPECIFIED',
    result_json: '',
    limit_ms: 0,
    limit_bytes: 0,
    message: '',
    logs: [...result.logs],
    duration_ms: result.stats.durationMs,
    ...(result.stats.memoryUsageBytes !== undefined ? { memory_usage_bytes: result.stats.memoryUsageBytes } : {}),
  };
  switch (result.status) {
    case 'ok':
      // The runtime already checked the result has a JSON form; `undefined` travels as ''.
      return { ...base, status: 'EXECUTE_STATUS_OK', result_json: JSON.stringify(result.result) ?? '' };
    case 'error':
      return { ...base, status: 'EXECUTE_STATUS_ERROR', error: copyScriptError(result.error) };
    case 'timeout':
      return { ...base, status: 'EXECUTE_STATUS_TIMEOUT', limit_ms: result.limitMs };
    case 'memory_limit':
      return { ...base, status: 'EXECUTE_STATUS_MEMORY_LIMIT', limit_bytes: result.limitBytes, message: result.message };
    case 'output_limit':
      return { ...base, status: 'EXECUTE_STATUS_OUTPUT_LIMIT', limit_bytes: result.limitBytes, message: result.message };
    case 'not_prepared':
      return { ...base, status: 'EXECUTE_STATUS_NOT_PREPARED' };
  }
}

/** Undefined when the answer is not one this version understands (the caller treats it as a fault). */
export function invocationResultFromWire(response: WireExecuteResponse): InvocationResult | undefined {
  const common = {
    logs: response.logs,
    stats: { durationMs: response.duration_ms, ...(response.memory_usage_bytes !== undefined ? { memoryUsageBytes: response.memory_usage_bytes } : {}) },
  };
  switch (response.status) {
    case 'EXECUTE_STATUS_OK':
      return { ...common, status: 'ok', result: response.result_json === '' ? undefined : (JSON.parse(response.result_json) as unknown) };
    case 'EXECUTE_STATUS_ERROR': {
      const error = response.error ?? { name: 'Error', message: 'the script failed without a reason' };
      return { ...common, status: 'error', error: copyScriptError(error) };
    }
    case 'EXECUTE_STATUS_TIMEOUT':
      return { ...common, status: 'timeout', limitMs: response.limit_ms };
    case 'EXECUTE_STATUS_MEMORY_LIMIT':
      return { ...common, status: 'memory_limit', limitBytes: response.limit_bytes, message: response.message };
    case 'EXECUTE_STATUS_OUTPUT_LIMIT':
      return { ...common, status: 'output_limit', limitBytes: response.limit_bytes, message: response.message };
    case 'EXECUTE_STATUS_NOT_PREPARED':
      return { ...common, status: 'not_prepared' };
    default:
      return undefined;
  }
}

export function healthToWire(health: RuntimeHealth): WireHealthCheckResponse {
  return { status: health.status, ...(health.reason !== undefined ? { reason: health.reason } : {}), details_json: JSON.stringify(health.details ?? {}) };
}

export function healthFromWire(response: WireHealthCheckResponse): RuntimeHealth {
  const status = response.status === 'up' || response.status === 'degraded' ? response.status : 'unavailable';
  let details: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(response.details_json || '{}') as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) details = parsed as Record<string, unknown>;
  } catch {
    // Details are informative only; a runtime that sends garbage there is still judged by status.
  }
  return { status, ...(response.reason ? { reason: response.reason } : {}), details };
}
