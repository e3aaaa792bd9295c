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
 *
 * The spans of the hops themselves are made next to them, on this state: grpc-tracing.ts (both
 * sides of a gRPC call) and src/http/tracing-hooks.ts (an HTTP request).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

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
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

import { waitAtMost } from '../common/idle.js';
import { AlsContextManager } from './als-context-manager.js';
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
/** The W3C header (and gRPC metadata key) whose presence says a request carries trace context. */
export const TRACEPARENT = 'traceparent';
/** How long shutdown() waits for the last export. */
const SHUTDOWN_TIMEOUT_MS = 5000;

interface State {
  refs: number;
  readonly provider: NodeTracerProvider | undefined;
  /** Set only when recording: its absence is the hot path's one check. */
  readonly tracer: Tracer | undefined;
  readonly contextManager: AlsContextManager;
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
  if (!options.otlpEndpoint) {
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(propagator);
    return { refs: 0, provider: undefined, tracer: undefined, contextManager };
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
  return { refs: 0, provider, tracer: provider.getTracer(SCOPE, options.serviceVersion), contextManager };
}

async function shutdownState(held: State): Promise<void> {
  try {
    if (held.provider) await waitAtMost(held.provider.shutdown(), SHUTDOWN_TIMEOUT_MS);
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
  return recordingTracer() !== undefined;
}

/** Whether tracing was set up here (initTracing): trace context that comes in is at least handed on. */
export function isPropagating(): boolean {
  return state !== undefined;
}

/** The tracer while spans are recorded, else undefined: the hot path's one check. */
export function recordingTracer(): Tracer | undefined {
  return state?.tracer;
}

/** The tracer spans are created with; the API's no-op tracer when not recording. */
export function tracer(): Tracer {
  return state?.tracer ?? trace.getTracer(SCOPE);
}

// ---- Carriers ---------------------------------------------------------------------------------

/**
 * The trace context an HTTP request carries (`traceparent`, `tracestate`), or undefined when it
 * carries none or a malformed one. Cheap when absent: one property lookup.
 */
export function contextFromHttpHeaders(headers: IncomingHttpHeaders): Context | undefined {
  if (headers[TRACEPARENT] === undefined || !state) return undefined;
  return validContext(propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter));
}

/** `ctx` when it carries a valid span context (an incoming `traceparent` may be malformed). */
export function validContext(ctx: Context): Context | undefined {
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
  const active = recordingTracer();
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

export { SpanKind, SpanStatusCode, context, trace, ROOT_CONTEXT, type Context, type Span };
