/**
 * Names for the API's shapes, all taken from the generated schema (schema.d.ts, made by
 * `npm run gen:client` from the service's route schemas): nothing here restates a shape by hand,
 * so a change in the API changes these types with the next generation.
 */
import type { components, paths } from './schema.js';

type Schemas = components['schemas'];

/** The JSON body of a request or response object of the document. */
type Json<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type Operation<P extends keyof paths, M extends 'get' | 'post' | 'patch' | 'delete'> = NonNullable<paths[P][M]>;
/** What an operation answers with `status`. */
type Reply<P extends keyof paths, M extends 'get' | 'post' | 'patch' | 'delete', S extends number> = Operation<P, M> extends { responses: infer R } ? (S extends keyof R ? Json<R[S]> : never) : never;
/** What an operation takes as its JSON body. */
type Body<P extends keyof paths, M extends 'get' | 'post' | 'patch' | 'delete'> = Operation<P, M> extends { requestBody?: infer B } ? Json<NonNullable<B>> : never;
/** What an operation takes in its query string. */
type Query<P extends keyof paths, M extends 'get' | 'post' | 'patch' | 'delete'> = Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** Every error body: `{ error: { code, message, details }, request_id? }`. */
export type ErrorEnvelope = Schemas['ErrorEnvelope'];
/** One of the contract's error codes (its HTTP status is fixed by the code). */
export type ErrorCode = ErrorEnvelope['error']['code'];

export type InitializeBody = Body<'/api/v1/initialize', 'post'>;
export type InitializeReply = Reply<'/api/v1/initialize', 'post', 200>;
export type ExecuteReply = Reply<'/api/v1/execute/{requestId}', 'post', 200>;

export type Session = Schemas['Session'];
export type SessionStatus = Session['status'];
export type SessionListQuery = Query<'/api/v1/sessions', 'get'>;
export type SessionPage = Reply<'/api/v1/sessions', 'get', 200>;
export type SessionUpdate = Body<'/api/v1/sessions/{requestId}', 'patch'>;
export type SessionDeleted = Reply<'/api/v1/sessions/{requestId}', 'delete', 200>;

export type ExecutionsQuery = Query<'/api/v1/sessions/{requestId}/executions', 'get'>;
export type ExecutionPage = Reply<'/api/v1/sessions/{requestId}/executions', 'get', 200>;
export type Execution = ExecutionPage['executions'][number];

export type FunctionSummary = Schemas['FunctionSummary'];
export type FunctionDetail = Schemas['FunctionDetail'];
export type FunctionListQuery = Query<'/api/v1/functions', 'get'>;
export type FunctionList = Reply<'/api/v1/functions', 'get', 200>;
export type FunctionRegistration = Body<'/api/v1/functions', 'post'>;
export type FunctionUpdate = Body<'/api/v1/functions/{languageTitle}', 'patch'>;
export type FunctionDeleted = Reply<'/api/v1/functions/{languageTitle}', 'delete', 200>;
export type FunctionStats = Reply<'/api/v1/functions/{languageTitle}/stats', 'get', 200>;
export type StatsWindow = NonNullable<Query<'/api/v1/functions/{languageTitle}/stats', 'get'>['window']>;

/** GET /health: `{ status, version, components }` (described loosely by the service). */
export type HealthReport = Reply<'/health', 'get', 200>;
/** GET /api/v1/runtimes: `{ runtimes: [...] }` (described loosely by the service). */
export type RuntimesReport = Reply<'/api/v1/runtimes', 'get', 200>;

export type { components, paths };
