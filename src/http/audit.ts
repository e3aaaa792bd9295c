/**
 * The audit trail: a request_logs row (and an error_logs row for a failure) for every request to
 * an audited route (initialize, execute), written behind the response, never on its path.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServiceError } from '../errors/service-error.js';
import { maskHeaders, maskText, maskValue } from '../observability/mask.js';
import type { RequestLogEntry } from '../storage/request-log.js';
import { headerString } from './headers.js';

/** What an audited route (initialize, execute) records for its request_logs row. */
export interface Audit {
  requestId: string | null;
  languageTitle: string | null;
  userId: string | null;
  cached: boolean;
  runtimeMetrics: unknown;
  response: unknown;
  error?: ServiceError;
  stack?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    audit?: Audit;
  }
  interface FastifyContextConfig {
    /** Write a request_logs row for every request to this route. */
    audit?: boolean;
  }
}

/** Starts the audit of every request to a route configured with `audit: true`. */
export function registerAudit(app: FastifyInstance, writeRequestLog: (entry: RequestLogEntry) => void): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.audit) {
      // The session of an execute is in its path: known even when the body does not parse.
      const sessionId = (request.params as { requestId?: unknown } | undefined)?.requestId;
      const requestId = typeof sessionId === 'string' ? sessionId.slice(0, 64) : null;
      request.audit = { requestId, languageTitle: null, userId: null, cached: false, runtimeMetrics: null, response: null };
      // One row per request, also when the client went away before its answer was sent: the script
      // may have run all the same. 'close' comes after 'finish' for an answer that was delivered.
      let delivered = false;
      reply.raw.once('finish', () => (delivered = true));
      reply.raw.once('close', () => writeRequestLog(auditEntry(request, reply, delivered)));
    }
  });
}

/**
 * The status stored for a request whose client closed the connection before the answer was sent
 * (nginx's convention); `error_details` says what the answer would have been.
 */
export const CLIENT_CLOSED_STATUS = 499;

function auditEntry(request: FastifyRequest, reply: FastifyReply, delivered: boolean): RequestLogEntry {
  const audit = request.audit as Audit;
  const error = audit.error;
  const body = request.body;
  return {
    id: randomUUID(),
    requestId: audit.requestId,
    languageTitle: audit.languageTitle ?? headerString(request.headers['language-title']),
    timestamp: new Date(Date.now() - reply.elapsedTime),
    clientIp: request.ip ?? null,
    userId: audit.userId,
    requestHeaders: maskHeaders(request.headers),
    requestPayload: body === undefined ? null : maskValue(body),
    responsePayload: maskValue(audit.response, 16_384),
    statusCode: delivered ? reply.statusCode : CLIENT_CLOSED_STATUS,
    durationMs: reply.elapsedTime,
    cached: audit.cached,
    errorDetails: error
      ? maskValue(error.toEnvelope().error)
      : delivered
        ? null
        : { code: 'CLIENT_CLOSED', message: 'The client closed the connection before the answer was sent', status: reply.statusCode },
    runtimeMetrics: audit.runtimeMetrics,
    endpoint: `${request.method} ${request.routeOptions.url ?? request.url}`,
    correlationId: request.id,
    ...(error
      ? {
          error: {
            code: error.code,
            message: maskText(error.message),
            stackTrace: audit.stack ?? null,
            context: maskValue({ details: error.details, endpoint: request.routeOptions.url }),
          },
        }
      : {}),
  };
}
