import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FunctionService } from '../../functions/function-service.js';
import { errorResponses, FunctionDetail, FunctionList, FunctionListQuery, FunctionParams, FunctionRegisterBody } from '../api-schemas.js';
import { FunctionDeleted, FunctionUpdateBody } from '../read-schemas.js';
import { rateLimited } from '../security.js';

const tags = ['functions'];

/** The functions catalog: list with filters and pages, detail, registering, changing and deleting a dynamic function. */
export const functionRoutes: FastifyPluginCallbackTypebox<{ functions: FunctionService }> = (app, { functions }, done) => {
  app.get(
    '/api/v1/functions',
    { ...rateLimited('functions'), schema: { tags, summary: 'The functions catalog', description: 'Scope `read:functions`.', querystring: FunctionListQuery, response: { 200: FunctionList, ...errorResponses() } } },
    async (request) => functions.list(request.query, request.principal),
  );

  app.get(
    '/api/v1/functions/:languageTitle',
    {
      ...rateLimited('functions'),
      schema: { tags, summary: 'One function: schema, examples', description: 'Scope `read:functions`.', params: FunctionParams, response: { 200: Type.Ref(FunctionDetail), ...errorResponses(404) } },
    },
    async (request) => functions.get(request.params.languageTitle, request.principal),
  );

  app.post(
    '/api/v1/functions',
    {
      ...rateLimited('functions'),
      schema: {
        tags,
        summary: 'Register a dynamic function',
        description: 'Its script is compiled first: a script that does not compile is 400 COMPILATION_ERROR. Scope `write:functions`.',
        body: FunctionRegisterBody,
        response: { 201: Type.Ref(FunctionDetail), ...errorResponses(409, 413) },
      },
    },
    async (request, reply) => {
      const created = await functions.register(request.body, request.principal);
      return reply.status(201).send(created);
    },
  );

  const changeRule = 'Scope `write:functions`, and the function must be the caller\'s own (registered with their token) or have no owner (registered without a token); predefined functions answer 403.';
  app.patch(
    '/api/v1/functions/:languageTitle',
    {
      ...rateLimited('functions'),
      schema: {
        tags,
        summary: 'Change a dynamic function: a new version',
        description: `The fields sent replace the current ones; anything different makes a new \`version\` (1.0.0 → 2.0.0). A new script is compiled first (400 COMPILATION_ERROR). New sessions start on the new version; sessions already running keep their script, params schema and cache flag. ${changeRule}`,
        params: FunctionParams,
        body: FunctionUpdateBody,
        response: { 200: Type.Ref(FunctionDetail), ...errorResponses(404, 409, 413) },
      },
    },
    async (request) => functions.update(request.params.languageTitle, request.body, request.principal),
  );

  app.delete(
    '/api/v1/functions/:languageTitle',
    {
      ...rateLimited('functions'),
      schema: {
        tags,
        summary: 'Delete (deactivate) a dynamic function',
        description: `It leaves the catalog (\`is_active = false\`): GET and initialize without a script answer 404; sessions already running keep their script. Its title stays taken. ${changeRule}`,
        params: FunctionParams,
        response: { 200: FunctionDeleted, ...errorResponses(404) },
      },
    },
    async (request) => functions.delete(request.params.languageTitle, request.principal),
  );
  done();
};
