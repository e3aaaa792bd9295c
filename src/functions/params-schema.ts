/**
 * The JSON Schemas users register for a function's params, checked and compiled so that
 * validating a caller's params can never hold the service's thread (it runs there, on every
 * execute of the function):
 * - `pattern` and `patternProperties` run on RE2 (re2js, a linear-time engine without
 *   backtracking) instead of JavaScript's RegExp: `^(a|a)*$` on 29 characters held the thread for
 *   27 s. A pattern RE2 cannot compile (lookahead, backreferences) is refused at registration.
 * - `uniqueItems` compares every pair of items (deep equality) unless the items are typed as
 *   scalars, which ajv checks in one pass: 30,000 untyped items held the thread for 5.7 s. It is
 *   accepted only with scalar-typed `items` or a `maxItems` of at most MAX_UNIQUE_PAIRWISE_ITEMS.
 * Both the registration check and the compile for execute go through here.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { RE2JS } from 're2js';

import { isPlainObject } from '../common/plain-object.js';
import { ServiceError } from '../errors/service-error.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** `uniqueItems` over items that are not scalar-typed is checked pairwise: at most this many items. */
export const MAX_UNIQUE_PAIRWISE_ITEMS = 100;

const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);

/** RE2 behind ajv's RegExp interface. JSON Schema patterns are unanchored searches, as `test` is. */
function re2Engine(pattern: string, flags: string): { test(input: string): boolean; toString(): string } {
  const compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
  // ajv deduplicates compiled patterns by this string: it must name the pattern.
  const name = `/${pattern}/${flags}`;
  return { test: (input) => compiled.test(input), toString: () => name };
}
re2Engine.code = 're2js';

/** The ajv every params schema is compiled with (validation of execute params). */
export function createParamsAjv(): Ajv {
  return addFormats(new Ajv({ allErrors: true, strict: false, useDefaults: true, code: { regExp: re2Engine } }));
}

function scalarTyped(items: unknown): boolean {
  if (!isPlainObject(items)) return false;
  const types = Array.isArray(items.type) ? items.type : [items.type];
  return types.length > 0 && types.every((t) => typeof t === 'string' && SCALAR_TYPES.has(t));
}

/**
 * Refuses what would make validation super-linear or that RE2 cannot run, naming the place:
 * ServiceError INVALID_REQUEST with `field` set to the schema path.
 */
export function assertLinearSchema(schema: unknown, path: string): void {
  const stack: { value: unknown; path: string }[] = [{ value: schema, path }];
  while (stack.length > 0) {
    const { value, path: at } = stack.pop() as { value: unknown; path: string };
    if (value === null || typeof value !== 'object') continue;
    if (isPlainObject(value) && value.uniqueItems === true && !scalarTyped(value.items)) {
      const max = value.maxItems;
      if (typeof max !== 'number' || max > MAX_UNIQUE_PAIRWISE_ITEMS) {
        throw new ServiceError(
          'INVALID_REQUEST',
          `${at}.uniqueItems: without scalar-typed "items" every pair of items is compared; give "items" a scalar "type" (string, number, integer, boolean, null) or set "maxItems" to at most ${MAX_UNIQUE_PAIRWISE_ITEMS}`,
          { field: `${at}.uniqueItems` },
        );
      }
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const patterns = key === 'pattern' && typeof child === 'string' ? [child] : key === 'patternProperties' && isPlainObject(child) ? Object.keys(child) : [];
      for (const pattern of patterns) {
        try {
          RE2JS.compile(RE2JS.translateRegExp(pattern));
        } catch (error) {
          throw new ServiceError(
            'INVALID_REQUEST',
            `${at}.${key}: ${JSON.stringify(pattern)} is not a pattern the linear-time engine (RE2) runs: ${error instanceof Error ? error.message : String(error)} (lookahead and backreferences are not supported)`,
            { field: `${at}.${key}` },
          );
        }
      }
      stack.push({ value: child, path: `${at}.${key}` });
    }
  }
}

/** Compiles a registered params schema for execute; a schema that fails the checks or does not compile gives the reason instead. */
export function compileParamsSchema(ajv: Ajv, schema: Record<string, unknown>): { validate: ValidateFunction } | { error: string } {
  try {
    assertLinearSchema(schema, 'schema.params');
    return { validate: ajv.compile(schema) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
