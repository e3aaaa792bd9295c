/**
 * How Fastify checks requests against the route schemas (api-schemas.ts), and what a refusal looks
 * like: the contract's INVALID_REQUEST envelope, its message naming the first field refused, its
 * `details.violations` every one (field, message, keyword).
 *
 * Two ajv instances: bodies are JSON and are checked as sent (no type coercion, no defaults, no
 * property removal: a `"timeout_ms": "100"` is refused, not turned into 100); path parameters,
 * query strings and headers are text, so there a number or boolean is read from its text.
 */
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { SchemaErrorDataVar } from 'fastify/types/schema.js';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

import { ServiceError } from '../errors/service-error.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const BASE = { allErrors: true, strict: false, useDefaults: false, removeAdditional: false } as const;
const bodyAjv = addFormats(new Ajv({ ...BASE, coerceTypes: false }));
const textAjv = addFormats(new Ajv({ ...BASE, coerceTypes: 'array' }));

/** The validator of one route part; a part may be absent (an execute without a body) when its schema says so. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const validate: ValidateFunction = (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
  // OpenAPI's requestBody.required: false — no body at all is then allowed (a body that is sent is still checked).
  const optional = httpPart === 'body' && (schema as { 'x-body-optional'?: boolean })['x-body-optional'] === true;
  return (data: unknown) => {
    if (optional && (data === undefined || data === null)) return { value: data };
    if (validate(data)) return { value: data };
    return { error: validate.errors as unknown as Error };
  };
};

/** `Language-Title` for `language-title`, as people write the header. */
const headerName = (name: string): string => name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => `${dash}${letter.toUpperCase()}`);

interface Violation {
  readonly field: string;
  readonly message: string;
  readonly keyword: string;
}

/** One ajv error as the field it names and what is wrong with it. */
function violationOf(error: FastifySchemaValidationError, part: SchemaErrorDataVar): Violation {
  const path = (error.instancePath ?? '')
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
  const params: Record<string, unknown> = error.params ?? {};
  const missing = error.keyword === 'required' && typeof params.missingProperty === 'string' ? params.missingProperty : undefined;
  if (missing !== undefined) path.push(missing);
  const extra = error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined;
  if (extra !== undefined) {
    path.push(extra);
    return { field: path.join('.'), keyword: error.keyword, message: `Unknown field "${path.join('.')}"` };
  }
  const field = path.join('.');
  if (part === 'headers') {
    const header = headerName(field);
    return { field: header, keyword: error.keyword, message: missing !== undefined ? `the ${header} header is required` : `the ${header} header ${error.message ?? 'is not valid'}` };
  }
  if (field === '') {
    const what = part === 'body' ? 'The body' : part === 'querystring' ? 'The query string' : 'The path';
    return { field, keyword: error.keyword, message: `${what} ${error.keyword === 'type' ? 'must be a JSON object' : (error.message ?? 'is not valid')}` };
  }
  const label = part === 'querystring' ? `query parameter "${field}"` : part === 'params' ? `path parameter "${field}"` : `"${field}"`;
  if (missing !== undefined) return { field, keyword: error.keyword, message: `${label} is required` };
  const allowed = Array.isArray(params.allowedValues) ? `: one of ${params.allowedValues.map((value) => JSON.stringify(value)).join(', ')}` : '';
  return { field, keyword: error.keyword, message: `${label} ${error.message ?? 'is not valid'}${allowed}` };
}

/** Fastify's schemaErrorFormatter: the refusal as the contract's INVALID_REQUEST. */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], part: SchemaErrorDataVar): Error {
  // A union's branches each report; what the caller needs is one line per field.
  const seen = new Set<string>();
  const violations = errors.map((error) => violationOf(error, part)).filter((v) => (seen.has(v.field) ? false : (seen.add(v.field), true)));
  const first = violations[0] ?? { field: '', message: 'The request is not valid', keyword: 'unknown' };
  const where = part === 'headers' ? { header: first.field } : { field: first.field };
  return new ServiceError('INVALID_REQUEST', first.message, { ...where, violations });
}
