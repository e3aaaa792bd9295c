/**
 * The runtime messages of proto/runtime.proto as they travel (snake_case fields, enums as names),
 * and the one mapping between them and the `Runtime` interface's types. Every transport between
 * the service and a runtime uses these: gRPC to a runtime server (runtime-proto.ts) and frames over
 * a socket to a runtime process (frame-peer.ts). A field is mapped in one place only, and what a
 * runtime sends back passes the host's output limits here (output-limits.ts), whatever the runtime
 * did.
 */
import { isPlainObject } from '../common/plain-object.js';
import { boundOutput, type OutputLimits } from '../runtimes/kit/output-limits.js';
import type { CompileFailure, InvocationResult, PrepareResult, RuntimeHealth, ScriptError } from '../runtimes/runtime.js';

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

/** A compile failure's present fields; the wire message and the Runtime type have the same shape. */
function copyCompileFailure(error: CompileFailure): WireCompileFailure {
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
  return { ok: false, compile_ms: 0, error: copyCompileFailure(result.error) };
}

export function prepareResultFromWire(response: WirePrepareResponse): PrepareResult {
  if (response.ok) {
    return { ok: true, compileMs: response.compile_ms, ...(response.artifact && response.artifact.length > 0 ? { artifact: new Uint8Array(response.artifact) } : {}) };
  }
  return { ok: false, error: copyCompileFailure(response.error ?? { kind: 'Error', message: 'prepare failed without a reason' }) };
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

/** A number the peer sent, or `fallback` when it sent something else. */
function finite(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** UTF-8 bytes of `text`, counted only when its length alone cannot tell that it is within `limit`. */
function jsonBytes(text: string, limit: number): number {
  return text.length * 3 <= limit ? text.length : Buffer.byteLength(text, 'utf8');
}

/**
 * The result a runtime answered, within `limits` (output-limits.ts); undefined when the answer is
 * not one this version understands (the caller treats it as a fault). Throws when the result is
 * not JSON.
 */
export function invocationResultFromWire(response: WireExecuteResponse, limits: OutputLimits): InvocationResult | undefined {
  const memory = response.memory_usage_bytes;
  const common = {
    logs: Array.isArray(response.logs) ? response.logs : [],
    stats: { durationMs: finite(response.duration_ms, 0), ...(memory !== undefined && memory !== null ? { memoryUsageBytes: finite(memory, 0) } : {}) },
  };
  const text = typeof response.result_json === 'string' ? response.result_json : '';
  const bytes = jsonBytes(text, limits.maxResultBytes);
  // A result over the limit is refused unread: its JSON is not even parsed.
  if (response.status === 'EXECUTE_STATUS_OK' && bytes > limits.maxResultBytes) {
    return boundOutput({ ...common, status: 'ok', result: null }, limits, bytes);
  }
  const result = fromWire(response, common);
  if (!result) return undefined;
  return boundOutput(result, limits, result.status === 'ok' ? bytes : 0);
}

function fromWire(response: WireExecuteResponse, common: Pick<InvocationResult, 'logs' | 'stats'>): InvocationResult | undefined {
  switch (response.status) {
    case 'EXECUTE_STATUS_OK':
      return { ...common, status: 'ok', result: response.result_json === '' ? undefined : (JSON.parse(response.result_json) as unknown) };
    case 'EXECUTE_STATUS_ERROR': {
      const error = response.error ?? { name: 'Error', message: 'the script failed without a reason' };
      return { ...common, status: 'error', error: copyScriptError(error) };
    }
    case 'EXECUTE_STATUS_TIMEOUT':
      return { ...common, status: 'timeout', limitMs: finite(response.limit_ms, 0) };
    case 'EXECUTE_STATUS_MEMORY_LIMIT':
      return { ...common, status: 'memory_limit', limitBytes: finite(response.limit_bytes, 0), message: String(response.message) };
    case 'EXECUTE_STATUS_OUTPUT_LIMIT':
      return { ...common, status: 'output_limit', limitBytes: finite(response.limit_bytes, 0), message: String(response.message) };
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
    if (isPlainObject(parsed)) details = parsed;
  } catch {
    // Details are informative only; a runtime that sends garbage there is still judged by status.
  }
  return { status, ...(response.reason ? { reason: response.reason } : {}), details };
}
