/**
 * The HTTP server: Fastify with the contract's error envelope on every error (framework ones
 * included), X-Request-ID honoured and echoed, Prometheus metrics per route, and a request_logs
 * row for every initialize and execute (written behind, never on the response path).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ServiceError, isServiceError } from '../errors/service-error.js';
import type { ExecutionService } from '../execution/execution-service.js';
import type { RuntimeCatalog } from '../execution/runtime-catalog.js';
import type { FunctionService } from '../functions/function-service.js';
import type { HistoryService } from '../history/history-service.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SessionService } from '../sessions/session-service.js';
import type { RequestLogEntry } from '../storage/request-log.js';
import { registerAudit } from './audit.js';
import { executionRoutes } from './routes/execution-routes.js';
import { functionRoutes } from './routes/function-routes.js';
import { historyRoutes } from './routes/history-routes.js';
import { operationsRoutes, type HealthReport } from './routes/operations-routes.js';
import { runtimeRoutes } from './routes/runtime-routes.js';
import { sessionRoutes } from './routes/session-routes.js';
import { registerApiDocs } from './api-docs.js';
import { consoleRoutes } from './console-routes.js';
import { SHARED_SCHEMAS } from './api-schemas.js';
import { schemaErrorFormatter, validatorCompiler } from './schema-validation.js';
import { registerSecurity, type SecurityOptions } from './security.js';
import { registerHttpTracing } from './tracing-hooks.js';

export interface HttpAppDependencies {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly sessions: SessionService;
  readonly execution: ExecutionService;
  readonly functions: FunctionService;
  /** The read APIs over the request log (a session's executions, a function's stats). */
  readonly history: HistoryService;
  /** What GET /api/v1/runtimes answers. */
  readonly runtimeCatalog: RuntimeCatalog;
  readonly health: () => Promise<HealthReport>;
  readonly writeRequestLog: (entry: RequestLogEntry) => void;
  readonly bodyLimit: number;
  readonly maxHeaderBytes: number;
  /** When set, GET /metrics wants `Authorization: Bearer <token>`. */
  readonly metricsToken?: string;
  readonly trustProxy?: boolean;
  readonly security: SecurityOptions;
}

/** A client's X-Request-ID is kept when it is a sane token; otherwise a fresh UUID is used. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

function requestIdOf(raw: IncomingMessage): string {
  const header = raw.headers['x-request-id'];
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Framework and unexpected errors as the contract's ServiceError. */
export function toServiceError(error: FastifyError | Error): ServiceError {
  if (isServiceError(error)) return error;
  const fe = error as FastifyError;
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ServiceError('INVALID_REQUEST', `Malformed JSON body: ${fe.message}`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ServiceError('INVALID_REQUEST', 'The body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ServiceError('INVALID_REQUEST', 'Content-Type must be application/json', { header: 'Content-Type' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ServiceError('INVALID_REQUEST', 'The body is too large', {}, 413);
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new ServiceError('INVALID_REQUEST', 'Content-Type is not valid', { header: 'Content-Type' });
    default:
      break;
  }
  // Other 4xx raised by the framework or its JSON parser (e.g. __proto__ in a body).
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ServiceError('INVALID_REQUEST', fe.message, {}, fe.statusCode === 413 ? 413 : 400);
  }
  if (error instanceof SyntaxError) return new ServiceError('INVALID_REQUEST', `Malformed JSON body: ${error.message}`);
  return new ServiceError('INTERNAL_ERROR', 'Internal error; the request id identifies it in the service logs');
}

export async function buildHttpApp(deps: HttpAppDependencies): Promise<FastifyInstance> {
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app: FastifyInstance = Fastify({
    loggerInstance,
    // request_logs and metrics record every request; a log line per request would only cost time.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    genReqId: requestIdOf,
    requestIdHeader: false,
    trustProxy: deps.trustProxy ?? false,
    http: { maxHeaderSize: deps.maxHeaderBytes },
    // Errors raised before routing (a URL that does not decode, an over-long path parameter) skip
    // the error handler: they get the same envelope here.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const serviceError = new ServiceError('INVALID_REQUEST', error.code === 'FST_ERR_BAD_URL' ? 'The URL is not valid (bad percent-encoding?)' : 'A path parameter is too long', {
        reason: error.code,
      });
      deps.metrics.errors.inc({ code: serviceError.code });
      void reply.header('x-request-id', request.id).status(serviceError.status).send(serviceError.toEnvelope());
    },
    // A request Node's parser refuses (headers over MAX_HEADER_BYTES, a malformed request line, a
    // timeout) never reaches routing: it gets the envelope here, and the connection is closed.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const serviceError =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? new ServiceError('INVALID_REQUEST', `The request headers are larger than ${deps.maxHeaderBytes} bytes (MAX_HEADER_BYTES)`, { limit_bytes: deps.maxHeaderBytes }, 431)
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? new ServiceError('INVALID_REQUEST', 'The request was not received in time', {}, 408)
            : new ServiceError('INVALID_REQUEST', 'Malformed HTTP request', { reason: error.code ?? 'unknown' });
      const { status } = serviceError;
      deps.metrics.errors.inc({ code: serviceError.code });
      deps.metrics.httpRequests.inc({ method: 'unparsed', route: 'unparsed', status });
      const body = JSON.stringify(serviceError.toEnvelope());
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A request that does not fit its route's schema (api-schemas.ts) is the contract's INVALID_REQUEST.
    schemaErrorFormatter,
  });
  app.setValidatorCompiler(validatorCompiler);
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  // A SERVER span per request, continuing an incoming traceparent (before any route is added).
  registerHttpTracing(app);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  registerAudit(app, deps.writeRequestLog);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: request.method, route, status: reply.statusCode });
    deps.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const serviceError = toServiceError(error);
    if (serviceError.status >= 500 && serviceError.code !== 'RUNTIME_ERROR' && serviceError.code !== 'TIMEOUT') {
      request.log.error({ err: error, reqId: request.id }, 'request failed');
    }
    deps.metrics.errors.inc({ code: serviceError.code });
    const retryAfter = serviceError.details.retry_after_seconds;
    if (serviceError.status === 429 && typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) reply.header('retry-after', String(retryAfter));
    // A 503 of a call that reached no runtime (none could serve, its process was restarting) may be
    // sent again as it is; one without Retry-After may have run part of a script before its process died.
    if (serviceError.status === 503 && serviceError.details.notRun === true && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
    const envelope = serviceError.toEnvelope();
    if (request.audit) {
      request.audit.error = serviceError;
      request.audit.response = envelope;
      request.audit.stack = serviceError.code === 'RUNTIME_ERROR' ? (serviceError.details.stack as string | undefined) : error.stack;
      request.audit.requestId ??= serviceError.requestId ?? null;
    }
    void reply.status(serviceError.status).send(envelope);
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new ServiceError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
    deps.metrics.errors.inc({ code: error.code });
    void reply.status(404).send(error.toEnvelope());
  });

  // /metrics checks METRICS_TOKEN itself (operations-routes.ts), not a JWT.
  await registerSecurity(app, { ...deps.security, ownCredentialRoutes: deps.metricsToken ? ['/metrics'] : [] });
  // Before the routes: @fastify/swagger collects each route's schema as it is added.
  await registerApiDocs(app);
  // Each route plugin receives only what it uses.
  await app.register(executionRoutes, { sessions: deps.sessions, execution: deps.execution });
  await app.register(sessionRoutes, { sessions: deps.sessions });
  await app.register(historyRoutes, { sessions: deps.sessions, history: deps.history });
  await app.register(functionRoutes, { functions: deps.functions });
  await app.register(runtimeRoutes, { runtimes: deps.runtimeCatalog });
  await app.register(operationsRoutes, { health: deps.health, metrics: deps.metrics, ...(deps.metricsToken ? { metricsToken: deps.metricsToken } : {}) });
  // The web console at / (and the JSON index there for clients that do not ask for HTML).
  await app.register(consoleRoutes, {});
  await app.ready();
  return app;
}

