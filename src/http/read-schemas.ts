/**
 * Schemas of the read APIs (issue 16): the caller's sessions, a session's executions, a
 * function's stats; and of changing or deleting a dynamic function. As in api-schemas.ts: what a
 * route takes is checked before its handler runs, what it answers is serialized from them.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox';

import { PAGE_LIMIT } from '../common/cursor.js';
import { STATS_WINDOWS, type StatsWindow } from '../history/history-service.js';
import { LANGUAGES } from '../runtimes/runtime.js';
import { FunctionRegisterBody, Nullable, SessionId, SessionView, Timestamp } from './api-schemas.js';

const Cursor = Type.String({ maxLength: 256, description: 'the `next_cursor` of the page before, as it came (opaque); absent: the first page' });

const PageQuery = {
  cursor: Type.Optional(Cursor),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, description: `rows per page, at most ${PAGE_LIMIT.max} (default ${PAGE_LIMIT.default})`, examples: [20] })),
};

const NextCursor = Nullable(Type.String({ description: 'pass it as `cursor` for the next page; null: this was the last page' }));

export const SessionListQuery = Type.Object({
  status: Type.Optional({ ...SessionView.properties.status, description: 'as GET shows it: `active`, `expired` (past its expiry), `completed` or `error`' }),
  language: Type.Optional(Type.Union(LANGUAGES.map((language) => Type.Literal(language)), { description: 'nodejs, python or rust' })),
  language_title: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'e.g. `nodejs-calculator`' })),
  ...PageQuery,
});
export type SessionListQuery = Static<typeof SessionListQuery>;

export const SessionPage = Type.Object({
  sessions: Type.Array(Type.Ref(SessionView), { description: 'newest first' }),
  next_cursor: NextCursor,
});
export type SessionPage = Static<typeof SessionPage>;

export const ExecutionsQuery = Type.Object(PageQuery);
export type ExecutionsQuery = Static<typeof ExecutionsQuery>;

const Execution = Type.Object({
  id: Type.String({ format: 'uuid', description: 'the request_logs row' }),
  timestamp: Timestamp('when the request came'),
  status_code: Type.Integer({ description: 'the HTTP status answered (499: the client went away first)' }),
  duration_ms: Type.Number({ description: 'the whole request, as the service timed it' }),
  cached: Type.Boolean({ description: 'answered from the result cache' }),
  params: Type.Unknown({ description: 'the params sent, as stored: secrets masked, long strings cut' }),
  response: Type.Unknown({ description: 'the answer (result or error envelope), as stored: masked, bounded' }),
  error_code: Nullable(Type.String({ description: 'the error code answered, e.g. `RUNTIME_ERROR`' })),
  error_message: Nullable(Type.String()),
  correlation_id: Nullable(Type.String({ description: 'the request\'s X-Request-ID' })),
});

export const ExecutionPage = Type.Object({
  request_id: SessionId,
  language_title: Type.String(),
  executions: Type.Array(Execution, { description: 'newest first' }),
  next_cursor: NextCursor,
});
export type ExecutionPage = Static<typeof ExecutionPage>;

const WINDOWS = Object.keys(STATS_WINDOWS) as StatsWindow[];

export const StatsQuery = Type.Object({
  window: Type.Optional(
    Type.Union(
      WINDOWS.map((window) => Type.Literal(window)),
      { description: `how far back from now: ${WINDOWS.map((w) => `\`${w}\` (buckets of ${STATS_WINDOWS[w].bucketSeconds / 60} min)`).join(', ')}; default \`1h\`` },
    ),
  ),
});
export type StatsQuery = Static<typeof StatsQuery>;

const Percentile = (which: string) => Nullable(Type.Number({ description: `${which} duration, ms (null without calls)` }));

const Figures = {
  calls: Type.Integer({ description: 'executes' }),
  errors: Type.Integer({ description: 'executes answered with an error (HTTP status 400 or more)' }),
  cache_hits: Type.Integer({ description: 'executes answered from the result cache' }),
  p50_ms: Percentile('median'),
  p95_ms: Percentile('95th percentile'),
  p99_ms: Percentile('99th percentile'),
};
/** The figures of a window or of one of its buckets, as answered. */
export type StatsFiguresView = Static<TObject<typeof Figures>>;

export const FunctionStats = Type.Object({
  language_title: Type.String(),
  window: Type.Union(WINDOWS.map((window) => Type.Literal(window))),
  from: Timestamp('the window\'s start'),
  to: Timestamp('the window\'s end: now'),
  bucket_seconds: Type.Integer(),
  ...Figures,
  buckets: Type.Array(Type.Object({ start: Timestamp('the bucket\'s start (buckets are aligned to the Unix epoch)'), ...Figures }), {
    description: 'oldest first, every bucket of the window (empty ones too); the first and the last are partial',
  }),
});
export type FunctionStats = Static<typeof FunctionStats>;

export const FunctionUpdateBody = Type.Partial(Type.Omit(FunctionRegisterBody, ['language_title']), {
  additionalProperties: false,
  minProperties: 1,
  description: 'the fields to change; the others stay as they are',
  examples: [{ script_content: 'return event.params.n * 3;', description: 'triples n' }],
});
export type FunctionUpdateBody = Static<typeof FunctionUpdateBody>;

export const FunctionDeleted = Type.Object({
  language_title: Type.String(),
  status: Type.Literal('deleted'),
  version: Type.String({ description: 'the version it had' }),
});
