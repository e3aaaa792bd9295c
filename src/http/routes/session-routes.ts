import type { FastifyPluginCallback } from 'fastify';
import type { SessionService } from '../../sessions/session-service.js';
import { rateLimited } from '../security.js';

/** GET, PATCH and DELETE /api/v1/sessions/{request_id}. */
export const sessionRoutes: FastifyPluginCallback<{ sessions: SessionService }> = (app, { sessions }, done) => {
  app.get<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', rateLimited('functions'), async (request) => sessions.get(request.params.requestId, request.principal));

  app.patch<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', rateLimited('functions'), async (request) =>
    sessions.update(request.params.requestId, request.body, request.principal),
  );

  app.delete<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', rateLimited('functions'), async (request) => {
    await sessions.delete(request.params.requestId, request.principal);
    return { request_id: request.params.requestId.toLowerCase(), status: 'deleted' };
  });
  done();
};
