import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { RuntimeCatalog } from '../../execution/runtime-catalog.js';
import { AnyJson, errorResponses } from '../api-schemas.js';
import { rateLimited } from '../security.js';

/** What each language can run: versions, script forms, globals and built-ins, packages, limits. */
export const runtimeRoutes: FastifyPluginCallbackTypebox<{ runtimes: RuntimeCatalog }> = (app, { runtimes }, done) => {
  app.get(
    '/api/v1/runtimes',
    {
      ...rateLimited('functions'),
      schema: {
        tags: ['runtimes'],
        summary: 'What each language can run',
        description: 'Language-Title rules, versions, script forms, Node.js globals and built-ins, the npm packages, Python packages and Rust crates scripts may use, and the limits. Scope `read:functions`.',
        response: { 200: AnyJson('`{ "runtimes": [ { "language", "language_titles", "versions", "forms", "packages" | "crates", "limits", ... } ] }`'), ...errorResponses() },
      },
    },
    async (request) => runtimes.describe(request.principal),
  );
  done();
};
