import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { SessionService } from '../../sessions/session-service.js';
import { errorResponses, SessionDeleted, SessionParams, SessionUpdateBody, SessionView } from '../api-schemas.js';
import { rateLimited } from '../security.js';

const tags = ['sessions'];
const sessionRef = Type.Ref(SessionView);

/** GET, PATCH and DELETE /api/v1/sessions/{request_id}. */
export const sessionRoutes: FastifyPluginCallbackTypebox<{ sessions: SessionService }> = (app, { sessions }, done) => {
  app.get(
    '/api/v1/sessions/:requestId',
    {
      ...rateLimited('functions'),
      schema: { tags, summary: 'A session', description: 'Its status, counters and context. Only its owner (or anyone, with auth off) sees it.', params: SessionParams, response: { 200: sessionRef, ...errorResponses(404) } },
    },
    async (request) => sessions.get(request.params.requestId, request.principal),
  );

  app.patch(
    '/api/v1/sessions/:requestId',
    {
      ...rateLimited('functions'),
      schema: { tags, summary: 'Extend a session or merge into its context', params: SessionParams, body: SessionUpdateBody, response: { 200: sessionRef, ...errorResponses(404, 413) } },
    },
    async (request) => sessions.update(request.params.requestId, request.body, request.principal),
  );

  app.delete(
    '/api/v1/sessions/:requestId',
    { ...rateLimited('functions'), schema: { tags, summary: 'End a session', params: SessionParams, response: { 200: SessionDeleted, ...errorResponses(404) } } },
    async (request) => {
      await sessions.delete(request.params.requestId, request.principal);
      return { request_id: request.params.requestId.toLowerCase(), status: 'deleted' as const };
    },
  );
  done();
};
