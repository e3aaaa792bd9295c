import type { FastifyInstance } from 'fastify';
import type { HttpAppDependencies } from '../app.js';

/** The functions catalog: list with filters and pages, detail, and registering a dynamic function. */
export function registerFunctionRoutes(app: FastifyInstance, deps: HttpAppDependencies): void {
  app.get<{ Querystring: Record<string, unknown> }>('/api/v1/functions', async (request) => deps.functions.list(request.query));

  app.get<{ Params: { languageTitle: string } }>('/api/v1/functions/:languageTitle', async (request) =>
    deps.functions.get(request.params.languageTitle),
  );

  app.post('/api/v1/functions', async (request, reply) => {
    const created = await deps.functions.register(request.body, null);
    return reply.status(201).send(created);
  });
}
