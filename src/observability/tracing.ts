/**
 * OpenTelemetry tracing: one trace per request across every hop (HTTP -> controller -> gRPC ->
 * runtime server), W3C Trace Context (`traceparent`, `tracestate`) on the wire.
 *
 * Three modes, one process-wide state (initTracing / Tracing.shutdown):
 *
 * - off: initTracing was never called. Every helper here is a no-op on the OpenTelemetry API's
 *   no-op globals (unit tests that build an app or a runtime server by hand).
 * - propagate (no OTEL_EXPORTER_OTLP_ENDPOINT): no tracer provider, no exporter, no span is
 *   created. An AsyncLocalStorage context manager and the W3C propagator are registered, so a
 *   `traceparent` that arrived (HTTP header, gRPC metadata) is handed on unchanged to the next hop:
 *   the next hop's spans become children of the caller's span and the trace stays whole. A request
 *   without `traceparent` costs one header lookup; AsyncLocalStorage is touched only when one came.
 * - record (endpoint set): NodeTracerProvider, parent-based always-on sampling (a caller's
 *   sampled=0 is respected), BatchSpanProcessor -> OTLP/HTTP JSON at `${endpoint}/v1/traces`.
 *   Tracing.shutdown() flushes what is queued (bounded) before the process exits.
 *
 * The SDK still honours its own OTEL_BSP_* (batching) and OTEL_EXPORTER_OTLP_HEADERS /
 * OTEL_EXPORTER_OTLP_TIMEOUT variables; everything else comes from src/config/config.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';

import type * as grpc from '@grpc/grpc-js';
import { InterceptingCall, status as GrpcStatus } from '@grpc/grpc-js';
import {
  context,
  defaultTextMapGetter,
  diag,
  DiagLogLevel,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type ContextManager,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

import type { Logger } from './logger.js';

export interface TracingOptions {
  /** OTLP/HTTP collector base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans are recorded and exported only when set. */
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
  readonly serviceVersion?: string;
  /** More resource attributes (e.g. the runtime server's language). */
  readonly resourceAttributes?: Attributes;
  /** Export failures and SDK warnings go here. */
  readonly logger?: Logger;
  /** How long shutdown() waits for the last export (default 5000 ms). */
  readonly shutdownTimeoutMs?: number;
}

export interface Tracing {
  /** Spans are recorded and exported (an endpoint is configured). */
  readonly recording: boolean;
  /** Exports every ended span now (tests, operators). */
  forceFlush(): Promise<void>;
  /** Flushes (bounded) and releases this holder; the last holder unregisters the globals. */
  shutdown(): Promise<void>;
}

/** The instrumentation scope every span of this code base is created under. */
const SCOPE = 'lambda-microservice';
const TRACEPARENT = 'traceparent';
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

/** Context across awaits: Node's AsyncLocalStorage (what the SDK's own manager uses too). */
class AlsContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const bound = thisArg === undefined ? fn : (fn.bind(thisArg) as F);
    return this.#storage.run(ctx, bound, ...args);
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, fn, this, ...args);
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#storage.disable();
    return this;
  }
}

interface State {
  refs: number;
  readonly provider: NodeTracerProvider | undefined;
  /** Set only when recording: its absence is the hot path's one check. */
  readonly tracer: Tracer | undefined;
  readonly contextManager: AlsContextManager;
  readonly shutdownTimeoutMs: number;
}

let state: State | undefined;

/**
 * Sets up tracing for this process. Reference-counted: a second call (several services in one test
 * process) shares the first call's setup, whose options win; each caller shuts its handle down.
 */
export function initTracing(options: TracingOptions): Tracing {
  if (!state) state = createState(options);
  state.refs++;
  const held = state;
  let released = false;
  return {
    recording: held.tracer !== undefined,
    forceFlush: async () => {
      await held.provider?.forceFlush();
    },
    shutdown: async () => {
      if (released) return;
      released = true;
      if (--held.refs > 0) return;
      if (state === held) state = undefined;
      await shutdownState(held);
    },
  };
}

function createState(options: TracingOptions): State {
  const contextManager = new AlsContextManager();
  const propagator = new W3CTraceContextPropagator();
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  if (!options.otlpEndpoint) {
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(propagator);
    return { refs: 0, provider: undefined, tracer: undefined, contextManager, shutdownTimeoutMs };
  }
  if (options.logger) diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN);
  const exporter = new OTLPTraceExporter({ url: tracesUrl(options.otlpEndpoint) });
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName,
        ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
        'service.instance.id': randomUUID(),
        ...options.resourceAttributes,
      }),
    ),
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register({ contextManager, propagator });
  return { refs: 0, provider, tracer: provider.getTracer(SCOPE, options.serviceVersion), contextManager, shutdownTimeoutMs };
}

async function shutdownState(held: State): Promise<void> {
  try {
    if (held.provider) await withTimeout(held.provider.shutdown(), held.shutdownTimeoutMs);
  } finally {
    if (held.provider) trace.disable();
    context.disable();
    propagation.disable();
    diag.disable();
  }
}

/** `${endpoint}/v1/traces`, as the OTLP/HTTP specification builds a signal URL from the base endpoint. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function diagLogger(logger: Logger): Parameters<typeof diag.setLogger>[0] {
  const child = logger.child({ component: 'otel' });
  return {
    error: (message, ...args) => child.warn({ args }, `tracing: ${message}`),
    warn: (message, ...args) => child.warn({ args }, `tracing: ${message}`),
    info: (message) => child.debug(`tracing: ${message}`),
    debug: () => undefined,
    verbose: () => undefined,
  };
}

/** Whether spans are recorded here (an endpoint is configured). */
export function isRecording(): boolean {
  return state?.tracer !== undefined;
}

/** The tracer spans are created with; the API's no-op tracer when not recording. */
export function tracer(): Tracer {
  return state?.tracer ?? trace.getTracer(SCOPE);
}

// ---- Carriers ---------------------------------------------------------------------------------

/** Reads W3C headers out of grpc-js Metadata (binary `-bin` values are skipped). */
export const metadataGetter: TextMapGetter<grpc.Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).filter((v): v is string => typeof v === 'string');
    if (values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
};

/** Writes W3C headers into grpc-js Metadata. */
export const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (metadata, key, value) => metadata.set(key, value),
};

/**
 * The trace context an HTTP request carries (`traceparent`, `tracestate`), or undefined when it
 * carries none or a malformed one. Cheap when absent: one property lookup.
 */
export function contextFromHttpHeaders(headers: IncomingHttpHeaders): Context | undefined {
  if (headers[TRACEPARENT] === undefined || !state) return undefined;
  return validContext(propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter));
}

/** The trace context a gRPC call carries in its metadata, or undefined. */
export function contextFromMetadata(metadata: grpc.Metadata): Context | undefined {
  if (!state || metadata.get(TRACEPARENT).length === 0) return undefined;
  return validContext(propagation.extract(ROOT_CONTEXT, metadata, metadataGetter));
}

/** Writes `ctx`'s span context (default: the active one) into gRPC metadata; nothing when there is none. */
export function injectIntoMetadata(metadata: grpc.Metadata, ctx: Context = context.active()): void {
  propagation.inject(ctx, metadata, metadataSetter);
}

function validContext(ctx: Context): Context | undefined {
  const spanContext = trace.getSpanContext(ctx);
  return spanContext && isSpanContextValid(spanContext) ? ctx : undefined;
}

/** `00-<trace id>-<span id>-<flags>`: a span's identity as W3C `traceparent` / `traceresponse` spell it. */
export function formatTraceparent(span: Span): string | undefined {
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!isSpanContextValid({ traceId, spanId, traceFlags })) return undefined;
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

// ---- Spans ------------------------------------------------------------------------------------

const NON_RECORDING_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Marks a span failed with the error's code (ServiceError code, gRPC status name…) or class name. */
export function recordError(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const type = errorType(error);
  span.setAttribute('error.type', type);
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  return error instanceof Error ? error.name : 'Error';
}

/**
 * Runs `fn` inside a new span (INTERNAL by default) that is the active one for everything `fn`
 * awaits; a throw marks it failed. When not recording, `fn` runs as is with a non-recording span.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  const active = state?.tracer;
  if (!active) return fn(NON_RECORDING_SPAN);
  return active.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

// ---- gRPC -------------------------------------------------------------------------------------

/** `/pkg.Service/Method` -> [`pkg.Service`, `Method`]. */
function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return [path.slice(1, slash), path.slice(slash + 1)];
}

function hostAndPort(address: string): { host: string; port: number | undefined } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  return match?.[1] !== undefined && match[2] !== undefined ? { host: match[1], port: Number(match[2]) } : { host: address, port: undefined };
}

/**
 * A grpc-js client interceptor (pass it in the client's `interceptors` option): each call made
 * inside a trace gets a CLIENT span `<service>/<method>` and carries `traceparent` in its metadata.
 * Calls outside any trace make no span, nor do `untracedMethods` (health polls: a poll timer
 * started during a request would otherwise inherit that request's context for good). When not
 * recording, a context that came in is injected unchanged (the caller's span stays the parent at
 * the next hop).
 */
export function grpcClientTracing(address: string, untracedMethods: readonly string[] = ['HealthCheck']): grpc.Interceptor {
  const { host, port } = hostAndPort(address);
  const untraced = new Set(untracedMethods);
  return (options, nextCall) => {
    const parent = context.active();
    if (!state || trace.getSpanContext(parent) === undefined) return new InterceptingCall(nextCall(options));
    const [service, method] = splitPath(options.method_definition.path);
    if (untraced.has(method)) return new InterceptingCall(nextCall(options));
    const active = state.tracer;
    if (!active) {
      return new InterceptingCall(nextCall(options), {
        start: (metadata, listener, next) => {
          injectIntoMetadata(metadata, parent);
          next(metadata, listener);
        },
      });
    }
    const span = active.startSpan(
      `${service}/${method}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method, 'server.address': host, ...(port !== undefined ? { 'server.port': port } : {}) },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    return new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        injectIntoMetadata(metadata, ctx);
        next(metadata, {
          onReceiveStatus: (status, nextStatus) => {
            endRpcSpan(span, status.code, status.details);
            nextStatus(status);
          },
        });
      },
    });
  };
}

function endRpcSpan(span: Span, code: grpc.status, details: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== GrpcStatus.OK) {
    span.setAttribute('error.type', String(code));
    span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  }
  span.end();
}

export interface GrpcServerCallOptions {
  /** Fully qualified service name (`lambda.runtime.v1.RuntimeService`). */
  readonly service: string;
  readonly method: string;
  readonly metadata: grpc.Metadata;
  /** The gRPC status a rejection of the handler becomes. */
  readonly statusOf: (error: unknown) => grpc.status;
  /** Whether a call that carries no trace context starts a trace of its own (false: health polls and the like). */
  readonly root: boolean;
}

/**
 * Runs a unary handler as a SERVER span `<service>/<method>` continuing the caller's trace (from
 * `traceparent` in the metadata), active for everything the handler awaits. Not recording: the
 * caller's context is still made active, so calls this handler makes carry it on.
 */
export function traceGrpcServerCall<T>(call: GrpcServerCallOptions, handle: () => Promise<T>): Promise<T> {
  if (!state) return handle();
  const parent = contextFromMetadata(call.metadata);
  const active = state.tracer;
  if (!active || (!parent && !call.root)) return parent ? context.with(parent, handle) : handle();
  const base = parent ?? ROOT_CONTEXT;
  const span = active.startSpan(
    `${call.service}/${call.method}`,
    { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': call.service, 'rpc.method': call.method } },
    base,
  );
  return context.with(trace.setSpan(base, span), handle).then(
    (value) => {
      endRpcSpan(span, GrpcStatus.OK, '');
      return value;
    },
    (error: unknown) => {
      if (error instanceof Error) span.recordException(error);
      endRpcSpan(span, call.statusOf(error), error instanceof Error ? error.message : String(error));
      throw error;
    },
  );
}

export { SpanKind, SpanStatusCode, context, trace, ROOT_CONTEXT, type Context, type Span };
