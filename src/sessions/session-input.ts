/**
 * What a client may send about a session, checked before anything is looked up, compiled or
 * stored: the id, and what the route schemas (http/api-schemas.ts) cannot say about initialize's
 * and PATCH's bodies. Each check names the field it refuses.
 */
import { assertJsonLimits, type JsonLimits } from '../common/json-limits.js';
import { isPlainObject } from '../common/plain-object.js';
import { ServiceError } from '../errors/service-error.js';
import type { InitializeBody as InitializeRequestBody, SessionUpdateBody as SessionUpdateRequestBody } from '../http/api-schemas.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** RFC 3339: a date, "T", a time and a zone (Z or an offset). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Session ids are UUIDs: anything else is refused before any query. */
export function assertSessionId(requestId: string): string {
  if (!UUID.test(requestId)) {
    throw new ServiceError('INVALID_REQUEST', 'request_id must be a UUID as returned by initialize', { request_id: requestId.slice(0, 64) });
  }
  return requestId.toLowerCase();
}

export interface InitializeBody {
  readonly context: Record<string, unknown>;
  readonly compileOptions: Record<string, unknown> | undefined;
  /** npm packages of a Node.js script (`{"lodash": "4.17.21"}`), checked by the bundler; undefined if none. */
  readonly dependencies: unknown;
  /** Undefined: the registered function's own script runs. */
  readonly scriptContent: string | undefined;
}

/**
 * Initialize's body: `{ "script_content": "...", "context": { ... }, "compile_options": { ... } }`,
 * whose shape the route's schema checked (http/api-schemas.ts); here what a schema cannot say:
 * the JSON limits, and compile options or packages sent inside the context (the earlier form).
 */
export function parseInitializeBody(body: InitializeRequestBody, limits: JsonLimits): InitializeBody {
  // The context keeps every field the caller sent (the schema names only those the service reads).
  const context: Record<string, unknown> = body.context ?? {};
  const compileOptions = body.compile_options ?? context.compile_options;
  const dependencies = body.dependencies ?? context.dependencies;
  if (compileOptions !== undefined && !isPlainObject(compileOptions)) {
    throw new ServiceError('INVALID_REQUEST', '"compile_options" must be a JSON object', { field: 'context.compile_options' });
  }
  assertJsonLimits(context, 'context', limits);
  if (compileOptions !== undefined) assertJsonLimits(compileOptions, 'compile_options', limits);
  if (dependencies !== undefined) assertJsonLimits(dependencies, 'dependencies', limits);
  return { context, compileOptions, dependencies, scriptContent: body.script_content ?? undefined };
}

/**
 * The compile options a runtime is given: the client's, and for Node.js what the bundler needs
 * (bundle/bundling-runtime.ts): `dependencies`, and `typescript` for a TypeScript Language-Title.
 */
export function scriptOptions(language: string, typescript: boolean, body: Pick<InitializeBody, 'compileOptions' | 'dependencies'>): Record<string, unknown> | undefined {
  const { compileOptions, dependencies } = body;
  if (language !== 'nodejs') {
    if (dependencies !== undefined) throw new ServiceError('INVALID_REQUEST', '"dependencies" (npm packages) are for Node.js scripts only', { field: 'dependencies' });
    return compileOptions;
  }
  if (dependencies === undefined && !typescript) return compileOptions;
  return { ...compileOptions, ...(dependencies !== undefined ? { dependencies } : {}), ...(typescript ? { typescript: true } : {}) };
}

/** A script a runtime is given: within MAX_SCRIPT_SIZE, not blank, no NUL. */
export function assertScript(source: string, maxScriptSize: number): void {
  const size = Buffer.byteLength(source, 'utf8');
  if (size > maxScriptSize) {
    throw new ServiceError('INVALID_REQUEST', `script_content is ${size} bytes; the limit (MAX_SCRIPT_SIZE) is ${maxScriptSize}`, { size, limit: maxScriptSize }, 413);
  }
  if (source.trim() === '') throw new ServiceError('INVALID_REQUEST', 'script_content is empty', { field: 'script_content' });
  if (source.includes('\u0000')) throw new ServiceError('INVALID_REQUEST', 'script_content must not contain NUL characters', { field: 'script_content' });
}

export interface UpdateBody {
  readonly expiresAt: Date | undefined;
  /** Merged into the session's context. */
  readonly context: Record<string, unknown> | undefined;
}

/** PATCH's body (its shape checked by the route's schema): a new `expires_at` (future, within the maximum lifetime) and/or `context` fields. */
export function parseUpdateBody(body: SessionUpdateRequestBody, maxLifetimeSeconds: number): UpdateBody {
  if (body.expires_at === undefined && body.context === undefined) {
    throw new ServiceError('INVALID_REQUEST', 'Nothing to update: send "expires_at" and/or "context"');
  }
  let expiresAt: Date | undefined;
  if (body.expires_at !== undefined) {
    expiresAt = parseTimestamp(body.expires_at);
    const now = Date.now();
    const max = now + maxLifetimeSeconds * 1000;
    if (expiresAt.getTime() <= now) throw new ServiceError('INVALID_REQUEST', 'expires_at must be in the future', { field: 'expires_at' });
    if (expiresAt.getTime() > max) {
      throw new ServiceError('INVALID_REQUEST', `expires_at may be at most ${maxLifetimeSeconds} s from now (${new Date(max).toISOString()})`, {
        field: 'expires_at',
        max: new Date(max).toISOString(),
      });
    }
  }
  return { expiresAt, context: body.context };
}

function parseTimestamp(value: unknown): Date {
  if (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw new ServiceError('INVALID_REQUEST', 'expires_at must be an RFC 3339 timestamp such as "2026-01-01T12:00:00Z"', { field: 'expires_at' });
  }
  return new Date(value);
}
