/**
 * Fastify side of tracing (src/observability/tracing.ts): a SERVER span per request named
 * `<METHOD> <route pattern>` continuing an incoming `traceparent`, active while the route handler
 * runs (so runtime calls it makes are its children), ended when the response is sent.
 *
 * The handler is wrapped at registration (onRoute) rather than entered from a hook: the body is
 * read between the hooks and the handler on socket events, which would lose an AsyncLocalStorage
 * context entered in onRequest. Must be registered before any route.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  contextFromHttpHeaders,
  context,
  formatTraceparent,
  isRecording,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  tracer,
  type Context,
  type Span,
} from '../observability/tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The context the handler runs in (the request's span, or the caller's context passed through). */
    traceContext?: Context;
    traceSpan?: Span;
  }
}

/** Scraped often and part of no user's request: never traced. */
const UNTRACED_ROUTES = new Set(['/health', '/metrics']);

/** Response header naming the request's trace (W3C Trace Context Level 2): `00-<trace id>-<span id>-<flags>`. */
export const TRACE_RESPONSE_HEADER = 'traceresponse';

export function registerHttpTracing(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    route.handler = function tracedHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const ctx = request.traceContext;
      return ctx === undefined ? handler.call(this, request, reply) : context.with(ctx, handler, this, request, reply);
    };
  });

  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED_ROUTES.has(route)) return done();
    const parent = contextFromHttpHeaders(request.headers);
    if (!isRecording()) {
      // Nothing recorded here: the caller's context goes on as it came.
      if (parent) request.traceContext = parent;
      return done();
    }
    const base = parent ?? ROOT_CONTEXT;
    const span = tracer().startSpan(
      route !== undefined ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          ...(route !== undefined ? { 'http.route': route } : {}),
          'url.path': request.url.split('?', 1)[0],
          'url.scheme': request.protocol,
          'client.address': request.ip,
          'lambda.correlation_id': request.id,
          ...(typeof request.headers['user-agent'] === 'string' ? { 'user_agent.original': request.headers['user-agent'] } : {}),
        },
      },
      base,
    );
    request.traceSpan = span;
    request.traceContext = trace.setSpan(base, span);
    const traceresponse = formatTraceparent(span);
    if (traceresponse) reply.header(TRACE_RESPONSE_HEADER, traceresponse);
    done();
  });

  app.addHook('onError', (request, _reply, error, done) => {
    const span = request.traceSpan;
    const code = (error as { code?: unknown }).code;
    if (span && typeof code === 'string') span.setAttribute('lambda.error.code', code);
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const span = request.traceSpan;
    if (span) {
      request.traceSpan = undefined;
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) {
        span.setAttribute('error.type', String(reply.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
    done();
  });

  app.addHook('onRequestAbort', (request, done) => {
    const span = request.traceSpan;
    if (span) {
      request.traceSpan = undefined;
      span.setAttribute('error.type', 'aborted');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the connection before the response' });
      span.end();
    }
    done();
  });
}
