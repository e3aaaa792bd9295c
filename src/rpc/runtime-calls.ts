/**
 * What a served runtime answers, whatever carries the calls: gRPC (runtime-server.ts, a runtime
 * server in a cluster) or frames over a socket (frame-server.ts, a local runtime process). Both
 * take the wire messages of runtime-wire.ts, check them the same way and call the same Runtime.
 */
import { isPlainObject } from '../common/plain-object.js';
import { boundResultDepth } from '../runtimes/kit/output-limits.js';
import type { ExecuteRequest, PrepareRequest, Runtime, RuntimeHealth, ScriptEvent } from '../runtimes/runtime.js';
import {
  invocationResultToWire,
  prepareResultToWire,
  type WireExecuteRequest,
  type WireExecuteResponse,
  type WirePrepareRequest,
  type WirePrepareResponse,
} from './runtime-wire.js';

/** A request whose fields are malformed (the transport answers INVALID_ARGUMENT / INVALID_REQUEST). */
export class InvalidWireRequest extends Error {}

/** The caller's deadline passed before the call could start (an answer would reach no one). */
export class DeadlinePassed extends Error {}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidWireRequest(`${what}: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new InvalidWireRequest(`${what} is not a JSON object`);
  return parsed;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidWireRequest(`${what} must be a string`);
  return value;
}

export function prepareRequestFromWire(request: WirePrepareRequest): PrepareRequest {
  const compileOptionsJson = typeof request.compile_options_json === 'string' ? request.compile_options_json : '';
  const compileOptions = parseJsonObject(compileOptionsJson, 'compile_options_json');
  return {
    scriptHash: text(request.script_hash, 'script_hash'),
    source: text(request.source, 'source'),
    ...(compileOptionsJson !== '' ? { compileOptions } : {}),
    ...(request.artifact && request.artifact.length > 0 ? { artifact: new Uint8Array(request.artifact) } : {}),
  };
}

/**
 * The invocation a request asks for, its time limit capped by what is left of the caller's
 * deadline. The event travels on as the JSON it came as (the runtime hands it to the script as
 * JSON). It is checked here unless `trustedEvent` (the service itself serialised it: a runtime
 * process's parent), and parsed only if something asks for `event`.
 */
export function executeRequestFromWire(request: WireExecuteRequest, remainingMs: number, trustedEvent = false): ExecuteRequest {
  const json = text(request.event_json, 'event_json');
  let parsed: ScriptEvent | undefined = trustedEvent ? undefined : (parseJsonObject(json, 'event_json') as unknown as ScriptEvent);
  if (trustedEvent && !json.startsWith('{')) throw new InvalidWireRequest('event_json is not a JSON object');
  const left = Math.floor(remainingMs);
  if (left <= 0) throw new DeadlinePassed('the deadline passed before the call started');
  const asked = typeof request.timeout_ms === 'number' && request.timeout_ms > 0 ? request.timeout_ms : left;
  return {
    scriptHash: text(request.script_hash, 'script_hash'),
    instanceKey: text(request.instance_key, 'instance_key'),
    get event(): ScriptEvent {
      parsed ??= parseJsonObject(json, 'event_json') as unknown as ScriptEvent;
      return parsed;
    },
    eventJson: json,
    timeoutMs: Math.max(1, Math.min(asked, left)),
  };
}

export interface RuntimeCalls {
  prepare(request: WirePrepareRequest): Promise<WirePrepareResponse>;
  execute(request: WireExecuteRequest, remainingMs: number): Promise<WireExecuteResponse>;
  release(instanceKey: string): void;
  health(): RuntimeHealth;
  /** Executes answered, by status (for GetMetrics). */
  readonly executeStatuses: Readonly<Record<string, number>>;
}

/** `trustedEvents`: the caller is the service itself (a runtime process), whose event JSON needs no check. */
export function createRuntimeCalls(runtime: Runtime, options: { readonly isStopping?: () => boolean; readonly trustedEvents?: boolean } = {}): RuntimeCalls {
  const isStopping = options.isStopping ?? ((): boolean => false);
  const executeStatuses: Record<string, number> = {};
  return {
    executeStatuses,
    async prepare(request) {
      return prepareResultToWire(await runtime.prepare(prepareRequestFromWire(request)));
    },
    async execute(request, remainingMs) {
      // A result too deep to serialise is the script's error (its size the receiving side checks on the wire).
      const result = boundResultDepth(await runtime.execute(executeRequestFromWire(request, remainingMs, options.trustedEvents)));
      executeStatuses[result.status] = (executeStatuses[result.status] ?? 0) + 1;
      return invocationResultToWire(result);
    },
    release(instanceKey) {
      runtime.release(instanceKey);
    },
    health() {
      if (isStopping()) return { status: 'unavailable', reason: 'runtime server is stopping' };
      try {
        return runtime.health();
      } catch (error) {
        return { status: 'unavailable', reason: `health check failed: ${(error as Error).message}` };
      }
    },
  };
}
