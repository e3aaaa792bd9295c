import type { FastifyPluginCallback } from 'fastify';
import type { FunctionService } from '../../functions/function-service.js';
import { rateLimited } from '../security.js';

/** The functions catalog: list with filters and pages, detail, and registering a dynamic function. */
export const functionRoutes: FastifyPluginCallback<{ functions: FunctionService }> = (app, { functions }, done) => {
  app.get<{ Querystring: Record<string, unknown> }>('/api/v1/functions', rateLimited('functions'), async (request) => functions.list(request.query, request.principal));

  app.get<{ Params: { languageTitle: string } }>('/api/v1/functions/:languageTitle', rateLimited('functions'), async (request) =>
    functions.get(request.params.languageTitle, request.principal),
  );

  app.post('/api/v1/functions', rateLimited('functions'), async (request, reply) => {
    const created = await functions.register(request.body, request.principal);
    return reply.status(201).send(created);
  });
  done();
};
