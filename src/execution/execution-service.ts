/**
 * Execute: runs a session's script with params on its language's runtime. The warm path is one
 * in-memory session lookup and one runtime call; counters and logs are written behind.
 */
import type { Static } from '@sinclair/typebox';
import type { ExecuteBody as ExecuteRequestBody, ExecuteReply } from '../http/api-schemas.js';
import type { ErrorObject } from 'ajv';
import { assertJsonLimits, type JsonLimits } from '../common/json-limits.js';
import type { Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';
import type { FunctionStore } from '../functions/function.js';
import type { ParamsValidator } from '../functions/params-validator.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { withSpan } from '../observability/tracing.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { roundMs } from '../runtimes/kit/invocation.js';
import type { InvocationResult, Language, Runtime } from '../runtimes/runtime.js';
import type { HotSession } from '../sessions/hot-sessions.js';
import type { SessionRecord } from '../sessions/session.js';
import { sessionFunctionVersion, type SessionService } from '../sessions/session-service.js';
import type { Admission } from './admission.js';
import type { CacheOutcome, Computed, ResultCache } from './result-cache.js';

/**
 * Whether a language's warm instance keeps state from one call to the next (module globals in a
 * Node.js context, a Python worker's interpreter); Rust runs a fresh WebAssembly instance per call.
 */
const KEEPS_INSTANCE_STATE: Readonly<Record<Language, boolean>> = { nodejs: true, python: true, rust: false };

export interface ExecutionServiceOptions {
  readonly sessions: SessionService;
  readonly functions: FunctionStore;
  readonly runtimes: RuntimeRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly results: ResultCache;
  /** Bounds executes in flight; beyond, an execute is refused at once (429). */
  readonly admission: Admission;
  /** Checks params against registered schemas, off this thread when it could take long. */
  readonly paramsValidator: ParamsValidator;
  readonly paramsLimits: JsonLimits;
  readonly runtimeTimeoutSeconds: number;
  readonly defaultTimeoutMs: number;
}

export interface ExecuteInput {
  readonly requestId: string;
  readonly principal: Principal;
  /** Shaped by the route's schema (http/api-schemas.ts); absent: params {}. */
  readonly body: ExecuteRequestBody | null | undefined;
  /** The X-Cache-Control header. */
  readonly cacheControl?: string;
  /** Told the session once it is known to exist and be the caller's, before it runs (the audit row names it, failures too). */
  readonly onSession?: (record: SessionRecord) => void;
}

interface FunctionInfo {
  readonly schema: Record<string, unknown> | undefined;
  readonly cacheable: boolean;
}

/** The success body of POST /api/v1/execute/{id} (contract section 1), as its route's schema says. */
export type ExecuteResponse = Static<typeof ExecuteReply>;

export interface ExecuteOutcome {
  readonly response: ExecuteResponse;
  readonly session: HotSession;
  readonly runtimeMetrics: Record<string, unknown>;
}

export class ExecutionService {
  readonly #o: ExecutionServiceOptions;
  /** Per function version (`<id>@<version>`): its params schema (none without one) and its cache opt-out. */
  readonly #functions = new Map<string, FunctionInfo>();

  constructor(options: ExecutionServiceOptions) {
    this.#o = options;
  }

  async execute(input: ExecuteInput): Promise<ExecuteOutcome> {
    const session = await this.#o.sessions.acquire(input.requestId, input.principal);
    const { record } = session;
    input.onSession?.(record);
    try {
      const control = this.#o.results.control(input.cacheControl);
      const { params, cacheable } = await this.#params(input.body, record);
      const runtime = this.#o.runtimes.get(record.language);
      // Before the session is claimed: a refused one-shot session can still be run later.
      const release = this.#o.admission.admit(record.languageTitle, record.requestId);
      let outcome: CacheOutcome<InvocationResult>;
      const started = performance.now();
      try {
        this.#o.sessions.claim(session);
        const useCache = cacheable && record.context.cache !== false;
        outcome = useCache
          ? await this.#o.results.run(this.#resultKey(record, params), control, () => this.#invoke(runtime, session, params))
          : { computed: await this.#invoke(runtime, session, params) };
      } finally {
        release();
      }
      this.#o.sessions.recordExecution(session, new Date());

      if ('hit' in outcome) {
        const ms = roundMs(performance.now() - started);
        return {
          session,
          runtimeMetrics: { status: 'ok', cached: true, original_execution_time_ms: outcome.hit.executionTimeMs },
          response: this.#response(record, outcome.hit.result, ms, true, outcome.hit.memoryUsageBytes, []),
        };
      }
      const result = outcome.computed.value;
      const runtimeMetrics = { status: result.status, duration_ms: result.stats.durationMs, memory_usage_bytes: result.stats.memoryUsageBytes ?? null, log_lines: result.logs.length };
      if (result.status === 'not_prepared') throw new ServiceError('INTERNAL_ERROR', 'The runtime lost the script again right after preparing it');
      if (result.status !== 'ok') throw invocationError(result, this.#timeoutMs(record.context.timeout_ms));
      const ms = roundMs(result.stats.durationMs);
      return { session, runtimeMetrics, response: this.#response(record, result.result, ms, false, result.stats.memoryUsageBytes ?? null, result.logs) };
    } catch (error) {
      if (error instanceof ServiceError) error.withRequestId(record.requestId);
      throw error;
    }
  }

  /**
   * The cache key of one execute: never shared across owners; within one session where the
   * language keeps warm module state, unless the session opted in with `context.cache: "shared"`.
   */
  #resultKey(record: SessionRecord, params: unknown): string {
    const shared = !KEEPS_INSTANCE_STATE[record.language] || record.context.cache === 'shared';
    return this.#o.results.key({
      language: record.language,
      scriptHash: record.scriptHash,
      owner: record.userId ?? '',
      scope: shared ? '' : record.requestId,
      params,
      context: record.context,
    });
  }

  /** One run of the script on its runtime, traced as an INTERNAL span `runtime.execute` (cache hits make none). */
  #invoke(runtime: Runtime, session: HotSession, params: unknown): Promise<Computed<InvocationResult>> {
    return withSpan('runtime.execute', { 'lambda.language': session.record.language }, async (span) => {
      const computed = await this.#run(runtime, session, params);
      span.setAttribute('lambda.execution.status', computed.value.status);
      return computed;
    });
  }

  /** One run of the script on its runtime; an ok result is offered to the result cache. */
  async #run(runtime: Runtime, session: HotSession, params: unknown): Promise<Computed<InvocationResult>> {
    const { record } = session;
    const timeoutMs = this.#timeoutMs(record.context.timeout_ms);
    const event = { params, context: record.context, request_id: record.requestId };
    let result = await runtime.execute({ scriptHash: record.scriptHash, instanceKey: record.requestId, event, timeoutMs });
    if (result.status === 'not_prepared') {
      // The runtime lost the script (restart, eviction, another replica): it travels again, once.
      await this.#prepareAgain(runtime, session);
      result = await runtime.execute({ scriptHash: record.scriptHash, instanceKey: record.requestId, event, timeoutMs });
    }
    this.#o.metrics.executions.inc({ language: record.language, outcome: result.status });
    this.#o.metrics.executionDuration.observe({ language: record.language }, result.stats.durationMs / 1000);
    const cacheable =
      result.status === 'ok' ? { result: result.result, memoryUsageBytes: result.stats.memoryUsageBytes ?? null, executionTimeMs: result.stats.durationMs } : undefined;
    return { cacheable, value: result };
  }

  #response(record: SessionRecord, result: unknown, ms: number, cached: boolean, memory: number | null, logs: readonly string[]): ExecuteResponse {
    return {
      request_id: record.requestId,
      language_title: record.languageTitle,
      result,
      execution_time: ms,
      execution_time_ms: ms,
      cached,
      memory_usage_bytes: memory,
      logs: [...logs],
    };
  }

  /** The params, checked against the function's schema; and whether its results may be cached. */
  async #params(body: ExecuteRequestBody | null | undefined, record: SessionRecord): Promise<{ params: unknown; cacheable: boolean }> {
    const params = body?.params ?? {};
    const bytes = assertJsonLimits(params, 'params', this.#o.paramsLimits);
    const { functionId } = record;
    if (functionId === null) return { params, cacheable: true };
    // The version the session started on: a later PATCH of the function does not change it.
    const version = sessionFunctionVersion(record);
    const key = `${functionId}@${version ?? ''}`;
    const { schema, cacheable } = await this.#functionInfo(key, functionId, version);
    if (!schema) return { params, cacheable };
    const verdict = await this.#o.paramsValidator.validate(key, schema, params, bytes);
    if (!verdict.valid) {
      throw new ServiceError('INVALID_PARAMS', `params do not match the function's schema: ${verdict.message}`, { violations: verdict.errors.map(describeViolation) });
    }
    // With the schema's defaults applied.
    return { params: verdict.params, cacheable };
  }

  async #functionInfo(key: string, functionId: string, version: string | undefined): Promise<FunctionInfo> {
    const known = this.#functions.get(key);
    if (known) return known;
    const fn = await this.#o.functions.behaviour(functionId, version);
    const info = { schema: fn?.schema?.params ?? undefined, cacheable: fn?.cacheable ?? true };
    this.#functions.set(key, info);
    return info;
  }

  #timeoutMs(requested: unknown): number {
    const cap = this.#o.runtimeTimeoutSeconds * 1000;
    const wanted = typeof requested === 'number' && requested > 0 ? requested : this.#o.defaultTimeoutMs;
    return Math.min(wanted, cap);
  }

  async #prepareAgain(runtime: Runtime, session: HotSession): Promise<void> {
    const { record } = session;
    const prepared = await runtime.prepare({
      scriptHash: record.scriptHash,
      source: record.scriptContent,
      ...(record.compileOptions ? { compileOptions: record.compileOptions } : {}),
      ...(record.compiledArtifact ? { artifact: record.compiledArtifact } : {}),
    });
    if (!prepared.ok) {
      // It compiled at initialize: a different outcome now is a fault of the runtime, not of the user.
      throw new ServiceError('INTERNAL_ERROR', `The session's script no longer compiles on this runtime: ${prepared.error.message}`);
    }
  }
}

/** A violation as the error body shows it; a long list in its params (an enum's values) is counted, not copied. */
function describeViolation(e: ErrorObject): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(e.params ?? {})) params[key] = Array.isArray(value) && value.length > 10 ? { count: value.length, first: value.slice(0, 10) } : value;
  return { path: e.instancePath || '/', message: e.message ?? 'invalid', keyword: e.keyword, params };
}

/** The name of a script error that is answered 400 INVALID_PARAMS rather than 500 RUNTIME_ERROR. */
export const INVALID_PARAMS_ERROR = 'InvalidParams';

/** A failed invocation as the contract's error (RUNTIME_ERROR / TIMEOUT / INVALID_PARAMS), with what the script printed. */
function invocationError(result: Exclude<InvocationResult, { status: 'ok' } | { status: 'not_prepared' }>, timeoutMs: number): ServiceError {
  const logs = result.logs;
  switch (result.status) {
    case 'error': {
      const { name, message, line, column, stack } = result.error;
      // The script refused its params (Rust's entry point when they do not fit the handler's type,
      // or any script's own error of that name): the caller's mistake, not the script's.
      if (name === INVALID_PARAMS_ERROR) return new ServiceError('INVALID_PARAMS', message, { name, message, logs });
      return new ServiceError('RUNTIME_ERROR', `${name}: ${message}`, { name, message, line, column, stack, logs });
    }
    case 'timeout':
      return new ServiceError('TIMEOUT', `The script did not finish within ${result.limitMs} ms`, { timeout_ms: timeoutMs, logs });
    case 'memory_limit':
      return new ServiceError('RUNTIME_ERROR', result.message, { reason: 'memory_limit', limit_bytes: result.limitBytes, logs });
    case 'output_limit':
      return new ServiceError('RUNTIME_ERROR', result.message, { reason: 'output_limit', limit_bytes: result.limitBytes, logs });
  }
}
