import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { HistoryService } from '../../history/history-service.js';
import type { SessionService } from '../../sessions/session-service.js';
import { errorResponses, FunctionParams, SessionParams } from '../api-schemas.js';
import { ExecutionPage, ExecutionsQuery, FunctionStats, SessionListQuery, SessionPage, StatsQuery } from '../read-schemas.js';
import { rateLimited } from '../security.js';

/** The read APIs: the caller's sessions, a session's executions, a function's stats (issue 16). */
export const historyRoutes: FastifyPluginCallbackTypebox<{ sessions: SessionService; history: HistoryService }> = (app, { sessions, history }, done) => {
  app.get(
    '/api/v1/sessions',
    {
      ...rateLimited('functions'),
      schema: {
        tags: ['sessions'],
        summary: 'The caller\'s sessions, newest first',
        description:
          'The sessions the caller made with their token (with auth off: the sessions made without one), in the languages they may execute (`execute:all` or `execute:<language>`), ended ones included, deleted ones not. Paged by cursor.',
        querystring: SessionListQuery,
        response: { 200: SessionPage, ...errorResponses() },
      },
    },
    async (request) => sessions.list(request.query, request.principal),
  );

  app.get(
    '/api/v1/sessions/:requestId/executions',
    {
      ...rateLimited('functions'),
      schema: {
        tags: ['sessions'],
        summary: 'A session\'s executions, newest first',
        description:
          'Each execute as the request log stored it (params and answer masked), newest first, paged by cursor. Who may read it as for GET of the session, also after it ended. The log is written behind the answers: the last moments may not be in it yet.',
        params: SessionParams,
        querystring: ExecutionsQuery,
        response: { 200: ExecutionPage, ...errorResponses(404) },
      },
    },
    async (request) => history.executions(request.params.requestId, request.query, request.principal),
  );

  app.get(
    '/api/v1/functions/:languageTitle/stats',
    {
      ...rateLimited('functions'),
      schema: {
        tags: ['functions'],
        summary: 'Calls, errors, cache hits and duration percentiles of a function',
        description:
          'Every execute under the Language-Title in the window ending now (the registered function\'s sessions and sessions with a script of their own alike), whole and in time buckets for charts. Scope `read:functions`.',
        params: FunctionParams,
        querystring: StatsQuery,
        response: { 200: FunctionStats, ...errorResponses() },
      },
    },
    async (request) => history.stats(request.params.languageTitle, request.query, request.principal),
  );
  done();
};
