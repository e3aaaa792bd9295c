import type { FastifyPluginCallback } from 'fastify';
import type { RuntimeCatalog } from '../../execution/runtime-catalog.js';
import { rateLimited } from '../security.js';

/** What each language can run: versions, script forms, globals and built-ins, packages, limits. */
export const runtimeRoutes: FastifyPluginCallback<{ runtimes: RuntimeCatalog }> = (app, { runtimes }, done) => {
  app.get('/api/v1/runtimes', rateLimited('functions'), async (request) => runtimes.describe(request.principal));
  done();
};
