import type { FastifyInstance } from 'fastify';
import type { HttpAppDependencies } from '../app.js';

/** GET, PATCH and DELETE /api/v1/sessions/{request_id}. */
export function registerSessionRoutes(app: FastifyInstance, deps: HttpAppDependencies): void {
  app.get<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', async (request) => deps.sessions.get(request.params.requestId));

  app.patch<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', async (request) =>
    deps.sessions.update(request.params.requestId, request.body),
  );

  app.delete<{ Params: { requestId: string } }>('/api/v1/sessions/:requestId', async (request) => {
    await deps.sessions.delete(request.params.requestId);
    return { request_id: request.params.requestId.toLowerCase(), status: 'deleted' };
  });
}
