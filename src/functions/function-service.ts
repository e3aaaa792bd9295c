/**
 * The functions catalog: the predefined functions shipped with the database and the dynamic ones
 * users register. A registered function can be initialized without a `script_content`; its params
 * schema is enforced on sessions that run its own script.
 */
import { Ajv } from 'ajv';
import { assertJsonLimits } from '../common/json-limits.js';
import { isPlainObject } from '../common/plain-object.js';
import { requireScope, SCOPES, type Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';
import type { LanguageRouter } from '../execution/language-router.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { scriptHash } from '../sessions/session-service.js';
import { scriptOptions } from '../sessions/session-input.js';
import type { FunctionFilter, FunctionRecord, FunctionSchema, FunctionStore, FunctionType } from './function.js';
import { assertLinearSchema } from './params-schema.js';

export interface FunctionServiceOptions {
  readonly store: FunctionStore;
  readonly router: LanguageRouter;
  readonly runtimes: RuntimeRegistry;
  readonly maxScriptSize: number;
}

export interface FunctionSummary {
  language: string;
  title: string;
  language_title: string;
  description: string | null;
  type: FunctionType;
  user_id?: string;
  created_at: string;
  updated_at: string;
  version: string;
  tags: readonly string[];
  cache: boolean;
}

export interface FunctionDetail extends FunctionSummary {
  schema: FunctionSchema | null;
  examples: readonly unknown[];
  script_content?: string;
}

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
    if (!fn) throw new ServiceError('NOT_FOUND', `No function "${languageTitle}"`, { language_title: languageTitle });
    return detail(fn);
  }

  /** Registers a dynamic function; its script is checked by the runtime first. */
  async register(body: unknown, principal: Principal): Promise<FunctionDetail> {
    requireScope(principal, [SCOPES.writeFunctions]);
    const userId = principal.anonymous ? null : (principal.userId ?? null);
    if (!isPlainObject(body)) throw new ServiceError('INVALID_REQUEST', 'The body must be a JSON object');
    const languageTitle = typeof body.language_title === 'string' ? body.language_title : undefined;
    const { language, title, languageTitle: resolvedTitle, dialect } = this.#o.router.resolve(languageTitle);
    const { script_content: source, description = null, schema = null, examples = [], tags = [], cache = true, dependencies } = body;
    if (typeof source !== 'string' || source.trim() === '') throw new ServiceError('INVALID_REQUEST', '"script_content" must be a non-empty string', { field: 'script_content' });
    if (Buffer.byteLength(source) > this.#o.maxScriptSize) {
      throw new ServiceError('INVALID_REQUEST', `script_content is over the limit (MAX_SCRIPT_SIZE ${this.#o.maxScriptSize} bytes)`, { limit: this.#o.maxScriptSize }, 413);
    }
    if (source.includes('\u0000')) throw new ServiceError('INVALID_REQUEST', 'script_content must not contain NUL characters', { field: 'script_content' });
    if (description !== null && (typeof description !== 'string' || description.length > 2000)) {
      throw new ServiceError('INVALID_REQUEST', '"description" must be a string of at most 2000 characters', { field: 'description' });
    }
    assertJsonLimits(schema, 'schema', FUNCTION_JSON_LIMITS);
    assertJsonLimits(examples, 'examples', FUNCTION_JSON_LIMITS);
    if (schema !== null) validateSchema(schema);
    if (typeof cache !== 'boolean') throw new ServiceError('INVALID_REQUEST', '"cache" must be a boolean (false: never cache results)', { field: 'cache' });
    if (!Array.isArray(examples)) throw new ServiceError('INVALID_REQUEST', '"examples" must be an array', { field: 'examples' });
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.length > 64) || tags.length > 32) {
      throw new ServiceError('INVALID_REQUEST', '"tags" must be an array of at most 32 strings', { field: 'tags' });
    }

    if (dependencies !== undefined) assertJsonLimits(dependencies, 'dependencies', FUNCTION_JSON_LIMITS);
    // Checked as its sessions will be prepared: the same compile options (TypeScript, packages).
    const compileOptions = scriptOptions(language, dialect === 'typescript', { compileOptions: undefined, dependencies });
    const runtime = this.#o.runtimes.get(language);
    const prepared = await runtime.prepare({ scriptHash: scriptHash(language, source, compileOptions), source, ...(compileOptions ? { compileOptions } : {}) });
    if (!prepared.ok) {
      const { kind, message, line, column, diagnostics } = prepared.error;
      throw new ServiceError('COMPILATION_ERROR', `${kind}: ${message}`, { kind, line, column, ...(diagnostics ? { diagnostics } : {}) });
    }
    const created = await this.#o.store.create({
      language,
      title,
      languageTitle: resolvedTitle,
      description,
      schema: schema as FunctionSchema | null,
      examples,
      createdBy: userId,
      tags: tags as string[],
      scriptContent: source,
      cacheable: cache,
      dependencies: isPlainObject(dependencies) ? (dependencies as Record<string, string>) : null,
    });
    if (!created) throw new ServiceError('CONFLICT', `A function "${languageTitle}" already exists`, { language_title: languageTitle });
    return detail(created);
  }
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
    tags: fn.tags,
    cache: fn.cacheable,
  };
}

function detail(fn: FunctionRecord): FunctionDetail {
  return {
    ...summary(fn),
    schema: fn.schema,
    examples: fn.examples,
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
