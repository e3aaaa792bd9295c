/**
 * The HTTP API's schemas (TypeBox, so JSON Schema and TypeScript types at once): what each route
 * takes (validated by Fastify before a handler runs) and answers (serialized from them), and what
 * GET /api/v1/openapi.json describes. Shapes live here; limits a schema cannot express (JSON depth
 * and size, a lifetime window, the script size) stay in the services.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

import { ERROR_STATUS, type ErrorCode } from '../errors/service-error.js';

/** Any JSON object: its keys are the caller's (context, compile options, details). */
export const AnyObject = (description: string) => Type.Object({}, { additionalProperties: true, description });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const Timestamp = (description: string) => Type.String({ format: 'date-time', description });

const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(
        ERROR_CODES.map((code) => Type.Literal(code)),
        { description: 'one of the contract\'s codes (its HTTP status is fixed by the code)' },
      ),
      message: Type.String({ description: 'for people; may change between versions' }),
      details: Type.Optional(AnyObject('what the code needs: the field refused, the violations, a compile error\'s line and diagnostics, logs')),
    }),
    request_id: Type.Optional(Type.String({ description: 'on execute errors: the session id' })),
  },
  { $id: 'ErrorEnvelope', title: 'Error', description: 'Every error body' },
);

/** What every route may answer: a bad request, auth, a limit, a fault, a service that is stopping. */
const COMMON_ERRORS = [400, 401, 403, 429, 500, 503];

/** The error responses a route may answer (the common ones and `statuses`), each with the envelope. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const described: Record<number, string> = {
    400: 'INVALID_REQUEST, INVALID_PARAMS or COMPILATION_ERROR',
    401: 'UNAUTHORIZED: no or a bad bearer token (when auth is on)',
    403: 'FORBIDDEN: the token lacks the scope, or the session is another user\'s',
    404: 'NOT_FOUND: unknown or expired session, unknown function',
    409: 'CONFLICT: the name is taken',
    413: 'INVALID_REQUEST: the body or the script is too large',
    429: 'RATE_LIMITED or overloaded: retry after Retry-After seconds',
    500: 'RUNTIME_ERROR (the script failed) or INTERNAL_ERROR',
    503: 'RUNTIME_UNAVAILABLE: no runtime for the language can serve now, or the service is stopping',
    504: 'TIMEOUT: the script did not finish within its time limit',
  };
  const all = [...new Set([...COMMON_ERRORS, ...statuses])].sort((a, b) => a - b);
  return Object.fromEntries(all.map((status) => [status, Type.Ref(ErrorEnvelope, { description: described[status] ?? 'error' })]));
}

export const SessionId = Type.String({ format: 'uuid', description: 'the request_id initialize answered', examples: ['3f0c8a52-8c59-4a47-9f0e-3c8f3f6e2b61'] });
export const SessionParams = Type.Object({ requestId: SessionId });
export type SessionParams = Static<typeof SessionParams>;

export const InitializeHeaders = Type.Object({
  'language-title': Type.String({ description: 'Language-Title: `<language>-<title>`, e.g. `nodejs-calculator`, `python-text_processor`, `rust-data_validator`', examples: ['nodejs-calculator'] }),
  'x-user-id': Type.Optional(Type.String({ description: 'with auth off: the session\'s user_id when context.user_id is absent (the earlier implementation\'s header)' })),
});

export const InitializeBody = Type.Object(
  {
    script_content: Type.Optional(Nullable(Type.String({ description: 'the script; absent: the registered function\'s own' }))),
    context: Type.Optional(
      Type.Object(
        {
          timeout_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'time limit of each execute, milliseconds' })),
          retain_session: Type.Optional(Type.Boolean({ description: 'false: the session ends after its first execute' })),
          user_id: Type.Optional(Nullable(Type.String())),
          compile_options: Type.Optional(AnyObject('as the body\'s compile_options (the earlier implementation sent them here)')),
        },
        { additionalProperties: true, description: 'kept with the session and handed to the script' },
      ),
    ),
    compile_options: Type.Optional(AnyObject('per language: Rust `optimization_level` (`debug` | `release`)')),
    // Checked by the bundler (names, versions, the store), which answers COMPILATION_ERROR naming the package.
    dependencies: Type.Optional(Type.Unknown({ description: 'Node.js: npm packages from the operator\'s store, `{ "<name>": "<version>" }`' })),
  },
  { additionalProperties: true, examples: [{ script_content: 'return event.params.a + event.params.b;', context: { timeout_ms: 5000 } }] },
);
export type InitializeBody = Static<typeof InitializeBody>;

export const InitializeReply = Type.Object({
  request_id: SessionId,
  status: Type.Literal('initialized'),
  expires_at: Timestamp('when the session ends unless it is extended'),
});

export const ExecuteHeaders = Type.Object({
  'x-cache-control': Type.Optional(Type.String({ description: '`no-cache`: run the script even when the result cache holds an answer' })),
});

export const ExecuteBody = Type.Object(
  {
    params: Type.Optional(Type.Unknown({ description: 'handed to the script as event.params; checked against the function\'s params schema when it has one' })),
  },
  // No body at all is params {} (schema-validation.ts reads x-body-optional).
  { additionalProperties: true, examples: [{ params: { a: 5, b: 10 } }], 'x-body-optional': true },
);
export type ExecuteBody = Static<typeof ExecuteBody>;

export const ExecuteReply = Type.Object({
  request_id: SessionId,
  language_title: Type.String(),
  result: Type.Unknown({ description: 'what the script returned (JSON)' }),
  execution_time: Type.Number({ description: 'milliseconds (the earlier implementation\'s name)' }),
  execution_time_ms: Type.Number(),
  cached: Type.Boolean({ description: 'true: answered from the result cache without running the script' }),
  memory_usage_bytes: Nullable(Type.Number()),
  logs: Type.Array(Type.String(), { description: 'what the script printed, bounded' }),
});

const SessionStatus = Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('completed'), Type.Literal('error')]);

export const SessionView = Type.Object(
  {
    request_id: SessionId,
    language_title: Type.String(),
    status: SessionStatus,
    created_at: Timestamp('when it was initialized'),
    expires_at: Timestamp('when it ends'),
    execution_count: Type.Integer(),
    last_executed_at: Nullable(Timestamp('the last execute')),
    compile_status: Type.String({ description: '`compiled` or `failed`' }),
    user_id: Nullable(Type.String()),
    context: AnyObject('the session\'s context'),
  },
  { $id: 'Session', title: 'Session' },
);

export const SessionUpdateBody = Type.Object(
  {
    expires_at: Type.Optional(Type.String({ description: 'RFC 3339; in the future and within the maximum lifetime' })),
    context: Type.Optional(
      Type.Object(
        {
          timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
          retain_session: Type.Optional(Type.Boolean()),
          user_id: Type.Optional(Nullable(Type.String())),
        },
        { additionalProperties: true, description: 'fields merged into the session\'s context' },
      ),
    ),
  },
  { additionalProperties: false, examples: [{ expires_at: '2026-12-02T12:00:00Z' }] },
);
export type SessionUpdateBody = Static<typeof SessionUpdateBody>;

export const SessionDeleted = Type.Object({ request_id: SessionId, status: Type.Literal('deleted') });

const FunctionSummaryFields = {
  language: Type.String(),
  title: Type.String(),
  language_title: Type.String(),
  description: Nullable(Type.String()),
  type: Type.Union([Type.Literal('predefined'), Type.Literal('dynamic')]),
  user_id: Type.Optional(Type.String({ description: 'who registered it (dynamic functions)' })),
  created_at: Timestamp('registered'),
  updated_at: Timestamp('last changed'),
  version: Type.String(),
  tags: Type.Array(Type.String()),
  cache: Type.Boolean({ description: 'false: results are never cached' }),
};

export const FunctionSummary = Type.Object(FunctionSummaryFields, { $id: 'FunctionSummary', title: 'FunctionSummary' });

export const FunctionDetail = Type.Object(
  {
    ...FunctionSummaryFields,
    schema: Nullable(Type.Object({ params: Type.Optional(AnyObject('JSON Schema of params')), result: Type.Optional(AnyObject('JSON Schema of the result')) })),
    examples: Type.Array(Type.Unknown()),
    script_content: Type.Optional(Type.String({ description: 'dynamic functions, to their owner' })),
    dependencies: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'a Node.js function\'s npm packages, name → version' })),
  },
  { $id: 'FunctionDetail', title: 'FunctionDetail' },
);

export const FunctionListQuery = Type.Object({
  language: Type.Optional(Type.String({ description: 'nodejs, python or rust' })),
  type: Type.Optional(Type.String({ description: 'predefined or dynamic' })),
  user_id: Type.Optional(Type.String()),
  page: Type.Optional(Type.String({ description: 'from 1', examples: ['1'] })),
  per_page: Type.Optional(Type.String({ description: 'at most 100 (default 20)', examples: ['20'] })),
});

export const FunctionList = Type.Object({
  total: Type.Integer(),
  page: Type.Integer(),
  per_page: Type.Integer(),
  functions: Type.Array(Type.Ref(FunctionSummary)),
});

export const FunctionParams = Type.Object({ languageTitle: Type.String({ description: 'e.g. `nodejs-calculator`' }) });
export type FunctionParams = Static<typeof FunctionParams>;

export const FunctionRegisterBody = Type.Object(
  {
    language_title: Type.String({ description: 'the new function\'s Language-Title, e.g. `nodejs-double`' }),
    script_content: Type.String({ minLength: 1 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    schema: Type.Optional(Nullable(AnyObject('`{ "params": <JSON Schema>, "result": <JSON Schema> }`: params are checked against it on every execute'))),
    examples: Type.Optional(Type.Array(Type.Unknown())),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    cache: Type.Optional(Type.Boolean({ description: 'false: results are never cached (the function is not deterministic)' })),
    dependencies: Type.Optional(Type.Unknown({ description: 'Node.js: `{ "<name>": "<version>" }`, checked against the package store' })),
  },
  {
    additionalProperties: true,
    examples: [{ language_title: 'nodejs-double', script_content: 'return event.params.n * 2;', schema: { params: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } } }],
  },
);
export type FunctionRegisterBody = Static<typeof FunctionRegisterBody>;

/** Any JSON the route answers whole (health, the runtimes catalog): documented, passed through. */
export const AnyJson = (description: string) => AnyObject(description);

/** The schemas referenced by `$ref` from routes: registered once with `app.addSchema`. */
export const SHARED_SCHEMAS: readonly TSchema[] = [ErrorEnvelope, SessionView, FunctionSummary, FunctionDetail];
