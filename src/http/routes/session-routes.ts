import type { FastifyInstance } from 'fastify';
import type { HttpAppDependencies } from '../app.js';
import { rateLimited } from '../security.js';

/** GET, PATCH and DELETE /api/v1/sessions/{request_id}. */
export function registerSessionRoutes(app: FastifyInstance, deps: HttpAppDependencies): void {
  app.get<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', rateLimited('functions'), async (request) => deps.sessions.get(request.params.requestId, request.principal));

  app.patch<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', rateLimited('functions'), async (request) =>
    deps.sessions.update(request.params.requestId, request.body, request.principal),
  );

  app.delete<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', rateLimited('functions'), async (request) => {
    await deps.sessions.delete(request.params.requestId, request.principal);
    return { request_id: request.params.requestId.toLowerCase(), status: 'deleted' };
  });
}
