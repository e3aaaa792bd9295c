/**
 * The functions catalog: the predefined functions shipped with the database and the dynamic ones
 * users register. A registered function can be initialized without a `script_content`; its params
 * schema is enforced on sessions that run its own script.
 */
import { Ajv } from 'ajv';
import semver from 'semver';
import { assertJsonLimits } from '../common/json-limits.js';
import { isPlainObject } from '../common/plain-object.js';
import { ownerOf, requireScope, SCOPES, type Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';
import type { LanguageRouter } from '../execution/language-router.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { Language } from '../runtimes/runtime.js';
import { canonicalJson } from '../sessions/canonical-json.js';
import { scriptHash } from '../sessions/session-service.js';
import { scriptOptions } from '../sessions/session-input.js';
import type { Static } from '@sinclair/typebox';
import type { FunctionDetail as FunctionDetailSchema, FunctionRegisterBody, FunctionSummary as FunctionSummarySchema } from '../http/api-schemas.js';
import type { FunctionUpdateBody } from '../http/read-schemas.js';
import type { FunctionFilter, FunctionRecord, FunctionStore, FunctionVersion } from './function.js';
import { assertLinearSchema } from './params-schema.js';

export interface FunctionServiceOptions {
  readonly store: FunctionStore;
  readonly router: LanguageRouter;
  readonly runtimes: RuntimeRegistry;
  readonly maxScriptSize: number;
}

/** A function as the catalog lists it and as GET shows it, from the routes' schemas. */
export type FunctionSummary = Static<typeof FunctionSummarySchema>;
export type FunctionDetail = Static<typeof FunctionDetailSchema>;

export const MAX_PER_PAGE = 100;

/** A schema or examples nested deeper than this cannot be a sensible contract (and would overflow recursive checks). */
const FUNCTION_JSON_LIMITS = { maxDepth: 32, maxBytes: 262_144 };

export class FunctionService {
  readonly #o: FunctionServiceOptions;

  constructor(options: FunctionServiceOptions) {
    this.#o = options;
  }

  async list(query: Readonly<Record<string, unknown>>, principal: Principal): Promise<{ total: number; page: number; per_page: number; functions: FunctionSummary[] }> {
    requireScope(principal, [SCOPES.readFunctions]);
    const page = positiveInt(query.page, 'page', 1, Number.MAX_SAFE_INTEGER);
    const perPage = positiveInt(query.per_page, 'per_page', 20, MAX_PER_PAGE);
    const filter: { -readonly [K in keyof FunctionFilter]: FunctionFilter[K] } = {};
    const { language, user_id: userId, type } = query;
    if (language !== undefined) filter.language = shortString(language, 'language');
    if (userId !== undefined) filter.userId = shortString(userId, 'user_id');
    if (type !== undefined) {
      if (type !== 'predefined' && type !== 'dynamic') throw new ServiceError('INVALID_REQUEST', 'type must be "predefined" or "dynamic"', { field: 'type' });
      filter.type = type;
    }
    const { total, functions } = await this.#o.store.list(filter, (page - 1) * perPage, perPage);
    return { total, page, per_page: perPage, functions: functions.map(summary) };
  }

  async get(languageTitle: string, principal: Principal): Promise<FunctionDetail> {
    requireScope(principal, [SCOPES.readFunctions]);
    this.#o.router.resolve(languageTitle);
    const fn = await this.#o.store.get(languageTitle);
    if (!fn) throw noFunction(languageTitle);
    return detail(fn);
  }

  /** Registers a dynamic function (the body's shape is checked by its route's schema); its script is checked by the runtime first. */
  async register(body: FunctionRegisterBody, principal: Principal): Promise<FunctionDetail> {
    requireScope(principal, [SCOPES.writeFunctions]);
    const { language_title: languageTitle } = body;
    const { language, title, languageTitle: resolvedTitle, dialect } = this.#o.router.resolve(languageTitle);
    checkFields(body, this.#o.maxScriptSize);
    const { script_content: source, dependencies } = body;
    await this.#compile(language, dialect === 'typescript', source, dependencies);
    const created = await this.#o.store.create({
      language,
      title,
      languageTitle: resolvedTitle,
      description: body.description ?? null,
      schema: body.schema ?? null,
      examples: body.examples ?? [],
      createdBy: ownerOf(principal),
      tags: body.tags ?? [],
      scriptContent: source,
      cacheable: body.cache ?? true,
      dependencies: storedDependencies(dependencies),
    });
    if (!created) throw new ServiceError('CONFLICT', `A function "${languageTitle}" already exists`, { language_title: languageTitle });
    return detail(created);
  }

  /**
   * PATCH /api/v1/functions/{language_title}: what the body names replaces the current value, and
   * the result is a new version (the major part of `version` goes up: 1.0.0 → 2.0.0) when anything
   * differs; a body that changes nothing answers the function as it is. A new script (or new
   * packages) is compiled first. New sessions start on the new version; sessions already running
   * keep the script, params schema and cache flag of theirs.
   */
  async update(languageTitle: string, body: FunctionUpdateBody, principal: Principal): Promise<FunctionDetail> {
    const { fn, language, typescript } = await this.#changeable(languageTitle, principal);
    checkFields(body, this.#o.maxScriptSize);
    // What the body names replaces the current value; `null` clears a description or a schema.
    const next: Omit<FunctionVersion, 'version' | 'createdBy'> = {
      description: body.description !== undefined ? body.description : fn.description,
      schema: body.schema !== undefined ? body.schema : fn.schema,
      examples: body.examples ?? fn.examples,
      tags: body.tags ?? fn.tags,
      scriptContent: body.script_content ?? fn.scriptContent ?? '',
      cacheable: body.cache ?? fn.cacheable,
      dependencies: body.dependencies !== undefined ? storedDependencies(body.dependencies) : fn.dependencies,
    };
    const current: typeof next = { description: fn.description, schema: fn.schema, examples: fn.examples, tags: fn.tags, scriptContent: fn.scriptContent ?? '', cacheable: fn.cacheable, dependencies: fn.dependencies };
    if (canonicalJson(next) === canonicalJson(current)) return detail(fn);
    if (next.scriptContent !== current.scriptContent || canonicalJson(next.dependencies) !== canonicalJson(current.dependencies)) {
      await this.#compile(language, typescript, next.scriptContent, body.dependencies !== undefined ? body.dependencies : (fn.dependencies ?? undefined));
    }
    const updated = await this.#o.store.update(fn.id, fn.version, { ...next, version: nextVersion(fn.version), createdBy: ownerOf(principal) });
    if (updated) return detail(updated);
    if (!(await this.#o.store.get(fn.languageTitle))) throw noFunction(fn.languageTitle);
    throw new ServiceError('CONFLICT', `"${fn.languageTitle}" changed while this change was checked; read it again and resend`, { language_title: fn.languageTitle });
  }

  /**
   * DELETE /api/v1/functions/{language_title}: the function is deactivated (`is_active = false`):
   * it leaves the catalog, GET answers 404 and so does initialize without a script; sessions
   * already running keep their script. Its title stays taken (its history refers to it).
   */
  async delete(languageTitle: string, principal: Principal): Promise<{ language_title: string; status: 'deleted'; version: string }> {
    const { fn } = await this.#changeable(languageTitle, principal);
    if (!(await this.#o.store.deactivate(fn.id))) throw noFunction(fn.languageTitle);
    return { language_title: fn.languageTitle, status: 'deleted', version: fn.version };
  }

  /**
   * The active dynamic function a caller may change: `write:functions`, and it was registered
   * without a token (no owner) or with the caller's own (`created_by` is their `sub`). Predefined
   * functions come with the database: nobody changes them over the API (403).
   */
  async #changeable(languageTitle: string, principal: Principal): Promise<{ fn: FunctionRecord; language: Language; typescript: boolean }> {
    requireScope(principal, [SCOPES.writeFunctions]);
    const { language, dialect } = this.#o.router.resolve(languageTitle);
    const fn = await this.#o.store.get(languageTitle);
    if (!fn) throw noFunction(languageTitle);
    if (fn.type === 'predefined') {
      throw new ServiceError('FORBIDDEN', `"${languageTitle}" is a predefined function: it comes with the database and cannot be changed or deleted`, { language_title: languageTitle, type: 'predefined' });
    }
    if (fn.createdBy !== null && fn.createdBy !== ownerOf(principal)) {
      throw new ServiceError('FORBIDDEN', `"${languageTitle}" was registered by another user; only they can change or delete it`, { language_title: languageTitle });
    }
    return { fn, language, typescript: dialect === 'typescript' };
  }

  /** Checks a script as its sessions will be prepared: the same compile options (TypeScript, packages). */
  async #compile(language: Language, typescript: boolean, source: string, dependencies: unknown): Promise<void> {
    const compileOptions = scriptOptions(language, typescript, { compileOptions: undefined, dependencies });
    const runtime = this.#o.runtimes.get(language);
    const prepared = await runtime.prepare({ scriptHash: scriptHash(language, source, compileOptions), source, ...(compileOptions ? { compileOptions } : {}) });
    if (!prepared.ok) {
      const { kind, message, line, column, diagnostics } = prepared.error;
      throw new ServiceError('COMPILATION_ERROR', `${kind}: ${message}`, { kind, line, column, ...(diagnostics ? { diagnostics } : {}) });
    }
  }
}

/** A function's packages as stored: the object the bundler accepted, or none. */
function storedDependencies(value: unknown): Record<string, string> | null {
  return isPlainObject(value) ? (value as Record<string, string>) : null;
}

/**
 * What the route's schema cannot say: the script's size in bytes (MAX_SCRIPT_SIZE, 413), blank or
 * NUL-bearing scripts, nesting and size of the JSON fields, and that `schema` holds JSON Schemas.
 */
function checkFields(body: FunctionUpdateBody, maxScriptSize: number): void {
  const { script_content: source, schema, examples, dependencies } = body;
  if (source !== undefined) {
    if (source.trim() === '') throw new ServiceError('INVALID_REQUEST', '"script_content" must be a non-empty string', { field: 'script_content' });
    if (Buffer.byteLength(source) > maxScriptSize) {
      throw new ServiceError('INVALID_REQUEST', `script_content is over the limit (MAX_SCRIPT_SIZE ${maxScriptSize} bytes)`, { limit: maxScriptSize }, 413);
    }
    if (source.includes('\u0000')) throw new ServiceError('INVALID_REQUEST', 'script_content must not contain NUL characters', { field: 'script_content' });
  }
  if (schema !== undefined) {
    assertJsonLimits(schema, 'schema', FUNCTION_JSON_LIMITS);
    if (schema !== null) validateSchema(schema);
  }
  if (examples !== undefined) assertJsonLimits(examples, 'examples', FUNCTION_JSON_LIMITS);
  if (dependencies !== undefined) assertJsonLimits(dependencies, 'dependencies', FUNCTION_JSON_LIMITS);
}

/** The next version: the major part up (1.0.0 → 2.0.0); a version that is not semver starts over at 2.0.0. */
function nextVersion(version: string): string {
  return semver.inc(semver.coerce(version) ?? '1.0.0', 'major') ?? '2.0.0';
}

function noFunction(languageTitle: string): ServiceError {
  return new ServiceError('NOT_FOUND', `No function "${languageTitle}"`, { language_title: languageTitle });
}

function summary(fn: FunctionRecord): FunctionSummary {
  return {
    language: fn.language,
    title: fn.title,
    language_title: fn.languageTitle,
    description: fn.description,
    type: fn.type,
    ...(fn.createdBy ? { user_id: fn.createdBy } : {}),
    created_at: fn.createdAt.toISOString(),
    updated_at: fn.updatedAt.toISOString(),
    version: fn.version,
    tags: [...fn.tags],
    cache: fn.cacheable,
  };
}

function detail(fn: FunctionRecord): FunctionDetail {
  return {
    ...summary(fn),
    schema: fn.schema,
    examples: [...fn.examples],
    ...(fn.type === 'dynamic' && fn.scriptContent !== null ? { script_content: fn.scriptContent } : {}),
    ...(fn.dependencies ? { dependencies: fn.dependencies } : {}),
  };
}

function positiveInt(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ServiceError('INVALID_REQUEST', `${name} must be an integer from 1 to ${max}`, { field: name });
  }
  return n;
}

function shortString(value: unknown, name: string): string {
  // Control characters (NUL above all) cannot be query parameters for a text column.
  if (typeof value !== 'string' || value.length === 0 || value.length > 128 || [...value].some((c) => c < ' ') || !value.isWellFormed()) {
    throw new ServiceError('INVALID_REQUEST', `${name} must be a string of 1 to 128 printable characters`, { field: name });
  }
  return value;
}

const schemaChecker = new Ajv({ strict: false });

/** `schema` is `{ params?, result? }`, each a JSON Schema that compiles. */
function validateSchema(schema: unknown): void {
  if (!isPlainObject(schema)) throw new ServiceError('INVALID_REQUEST', '"schema" must be an object { "params": <JSON Schema>, "result": <JSON Schema> }', { field: 'schema' });
  for (const key of Object.keys(schema)) {
    if (key !== 'params' && key !== 'result') throw new ServiceError('INVALID_REQUEST', `"schema" may only hold "params" and "result", not "${key}"`, { field: 'schema' });
    const part = schema[key];
    if (!isPlainObject(part) || !schemaChecker.validateSchema(part)) {
      throw new ServiceError('INVALID_REQUEST', `schema.${key} is not a valid JSON Schema: ${schemaChecker.errorsText(schemaChecker.errors)}`, { field: `schema.${key}` });
    }
    assertLinearSchema(part, `schema.${key}`);
  }
}
