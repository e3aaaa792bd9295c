import type { FastifyInstance } from 'fastify';
import type { HttpAppDependencies } from '../app.js';
import { rateLimited } from '../security.js';

/** The functions catalog: list with filters and pages, detail, and registering a dynamic function. */
export function registerFunctionRoutes(app: FastifyInstance, deps: HttpAppDependencies): void {
  app.get<{ Querystring: Record<string, unknown> }>('/api/v1/functions', rateLimited('functions'), async (request) => deps.functions.list(request.query, request.principal));

  app.get<{ Params: { languageTitle: string } }>('/api/v1/functions/:languageTitle', rateLimited('functions'), async (request) =>
    deps.functions.get(request.params.languageTitle, request.principal),
  );

  app.post('/api/v1/functions', rateLimited('functions'), async (request, reply) => {
    const created = await deps.functions.register(request.body, request.principal);
    return reply.status(201).send(created);
  });
}
