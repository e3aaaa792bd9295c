import type { FastifyPluginCallback } from 'fastify';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../sessions/session-service.js';
import { headerString } from '../headers.js';
import { rateLimited } from '../security.js';

/** POST /api/v1/initialize and POST /api/v1/execute/{request_id}: thin, audited. */
export const executionRoutes: FastifyPluginCallback<{ sessions: SessionService; execution: ExecutionService }> = (app, deps, done) => {
  app.post('/api/v1/initialize', { config: { audit: true, ...rateLimited('execute').config } }, async (request) => {
    const languageTitle = headerString(request.headers['language-title']) ?? undefined;
    // The earlier implementation's controller took the session's user from X-User-ID.
    const headerUserId = headerString(request.headers['x-user-id']) ?? undefined;
    const { session } = await deps.sessions.initialize({ languageTitle, body: request.body, principal: request.principal, ...(headerUserId !== undefined ? { headerUserId } : {}) });
    const reply = { request_id: session.requestId, status: 'initialized', expires_at: session.expiresAt.toISOString() };
    const audit = request.audit;
    if (audit) {
      audit.requestId = session.requestId;
      audit.languageTitle = session.languageTitle;
      audit.userId = session.userId;
      audit.response = reply;
    }
    return reply;
  });

  app.post<{ Params: { requestId: string } }>('/api/v1/execute/:requestId', { config: { audit: true, ...rateLimited('execute').config } }, async (request) => {
    const audit = request.audit;
    const outcome = await deps.execution.execute({
      requestId: request.params.requestId,
      principal: request.principal,
      body: request.body,
      cacheControl: headerString(request.headers['x-cache-control']) ?? undefined,
    });
    if (audit) {
      audit.languageTitle = outcome.response.language_title;
      audit.userId = outcome.session.record.userId;
      audit.cached = outcome.response.cached;
      audit.runtimeMetrics = outcome.runtimeMetrics;
      audit.response = outcome.response;
    }
    return outcome.response;
  });
  done();
};
