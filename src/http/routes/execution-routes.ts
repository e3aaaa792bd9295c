import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../sessions/session-service.js';
import { errorResponses, ExecuteBody, ExecuteHeaders, ExecuteReply, InitializeBody, InitializeHeaders, InitializeReply, SessionParams } from '../api-schemas.js';
import { headerString } from '../headers.js';
import { rateLimited } from '../security.js';

const tags = ['execution'];

/** POST /api/v1/initialize and POST /api/v1/execute/{request_id}: thin, audited. */
export const executionRoutes: FastifyPluginCallbackTypebox<{ sessions: SessionService; execution: ExecutionService }> = (app, deps, done) => {
  app.post(
    '/api/v1/initialize',
    {
      config: { audit: true, ...rateLimited('execute').config },
      schema: {
        tags,
        summary: 'Initialize a session with a script',
        description:
          'Compiles (or parses) the script once; the session then runs it on every execute. Without `script_content`, the registered function of the Language-Title runs. Scopes: `execute:all` or `execute:<language>`.',
        headers: InitializeHeaders,
        body: InitializeBody,
        response: { 200: InitializeReply, ...errorResponses(404, 413) },
      },
    },
    async (request) => {
      const languageTitle = headerString(request.headers['language-title']) ?? undefined;
      // The earlier implementation's controller took the session's user from X-User-ID.
      const headerUserId = headerString(request.headers['x-user-id']) ?? undefined;
      const { session } = await deps.sessions.initialize({ languageTitle, body: request.body, principal: request.principal, ...(headerUserId !== undefined ? { headerUserId } : {}) });
      const reply = { request_id: session.requestId, status: 'initialized' as const, expires_at: session.expiresAt.toISOString() };
      const audit = request.audit;
      if (audit) {
        audit.requestId = session.requestId;
        audit.languageTitle = session.languageTitle;
        audit.userId = session.userId;
        audit.response = reply;
      }
      return reply;
    },
  );

  app.post(
    '/api/v1/execute/:requestId',
    {
      config: { audit: true, ...rateLimited('execute').config },
      schema: {
        tags,
        summary: 'Execute a session\'s script with params',
        description:
          'Runs the script with `params` (as `event.params`) and answers its result, logs and timing. A deterministic function\'s result may come from the cache (`cached: true`) unless `X-Cache-Control: no-cache`. The body may be left out (params `{}`).',
        params: SessionParams,
        headers: ExecuteHeaders,
        body: ExecuteBody,
        response: { 200: ExecuteReply, ...errorResponses(404, 413, 504) },
      },
    },
    async (request) => {
      const audit = request.audit;
      const outcome = await deps.execution.execute({
        requestId: request.params.requestId,
        principal: request.principal,
        body: request.body,
        cacheControl: headerString(request.headers['x-cache-control']) ?? undefined,
        // A failed execute's row names its session and function too (stats count its error).
        onSession: (record) => {
          if (!audit) return;
          audit.requestId = record.requestId;
          audit.languageTitle = record.languageTitle;
          audit.userId = record.userId;
        },
      });
      if (audit) {
        audit.languageTitle = outcome.response.language_title;
        audit.userId = outcome.session.record.userId;
        audit.cached = outcome.response.cached;
        audit.runtimeMetrics = outcome.runtimeMetrics;
        audit.response = outcome.response;
      }
      return outcome.response;
    },
  );
  done();
};
