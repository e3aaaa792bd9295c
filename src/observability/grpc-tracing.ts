/**
 * gRPC side of tracing (tracing.ts): a CLIENT span per call the controller makes to a runtime
 * server and a SERVER span per call that server handles, `traceparent` carried in the metadata,
 * so one request's trace crosses the hop whole.
 */
import type * as grpc from '@grpc/grpc-js';
import { InterceptingCall, status as GrpcStatus } from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';

import { isPropagating, recordingTracer, TRACEPARENT, validContext } from './tracing.js';

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

/** The trace context a gRPC call carries in its metadata, or undefined. */
export function contextFromMetadata(metadata: grpc.Metadata): Context | undefined {
  if (!isPropagating() || metadata.get(TRACEPARENT).length === 0) return undefined;
  return validContext(propagation.extract(ROOT_CONTEXT, metadata, metadataGetter));
}

/** Writes `ctx`'s span context (default: the active one) into gRPC metadata; nothing when there is none. */
export function injectIntoMetadata(metadata: grpc.Metadata, ctx: Context = context.active()): void {
  propagation.inject(ctx, metadata, metadataSetter);
}

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
    if (!isPropagating() || trace.getSpanContext(parent) === undefined) return new InterceptingCall(nextCall(options));
    const [service, method] = splitPath(options.method_definition.path);
    if (untraced.has(method)) return new InterceptingCall(nextCall(options));
    const active = recordingTracer();
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
  if (!isPropagating()) return handle();
  const parent = contextFromMetadata(call.metadata);
  const active = recordingTracer();
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
