/**
 * Every answer an HTTP test receives is checked against the service's own OpenAPI document
 * (GET /api/v1/openapi.json): its status must be documented for the operation, and its JSON body
 * must fit the schema the document gives for it (JSON Schema 2020-12, as OpenAPI 3.1 says).
 */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

interface Operation {
  readonly responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
type PathItem = Partial<Record<string, Operation>>;
interface Checker {
  readonly paths: readonly { readonly pattern: RegExp; readonly template: string; readonly item: PathItem; readonly static: boolean }[];
  readonly ajv: Ajv2020;
  readonly compiled: Map<string, ValidateFunction>;
}

const DOCUMENT_ID = 'https://lambda.invalid/openapi.json';
const checkers = new WeakMap<FastifyInstance, Checker>();

const pointer = (...segments: string[]): string => segments.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

function checkerOf(app: FastifyInstance): Checker {
  const known = checkers.get(app);
  if (known) return known;
  const document = app.swagger() as { paths?: Record<string, PathItem> };
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true, validateFormats: true }));
  ajv.addSchema({ ...document, $id: DOCUMENT_ID });
  const paths = Object.entries(document.paths ?? {}).map(([template, item]) => ({
    template,
    item,
    static: !template.includes('{'),
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\\{[^}]+\\\}|\{[^}]+\}/g, '[^/]+')}$`),
  }));
  // A static path wins over a template that also matches (/api/v1/functions before /api/v1/functions/{x}).
  paths.sort((a, b) => Number(b.static) - Number(a.static));
  const checker = { paths, ajv, compiled: new Map<string, ValidateFunction>() };
  checkers.set(app, checker);
  return checker;
}

/** Fails the test when the answer is not what the OpenAPI document says the route answers. */
export function checkAgainstOpenApi(app: FastifyInstance, method: string, url: string, status: number, contentType: string, body: unknown): void {
  const checker = checkerOf(app);
  const path = url.split('?')[0] ?? url;
  const found = checker.paths.find((p) => p.pattern.test(path));
  const operation = found?.item[method.toLowerCase()];
  // Routes the document leaves out (/docs and its assets, unknown paths answered 404) are not checked.
  if (!found || !operation) return;
  const response = operation.responses?.[String(status)] ?? operation.responses?.default;
  assert.ok(response, `${method} ${found.template} answered ${status}, which its OpenAPI operation does not document`);
  if (!contentType.includes('json')) return;
  const schema = response.content?.['application/json']?.schema;
  assert.ok(schema !== undefined, `${method} ${found.template} ${status}: the OpenAPI document gives no JSON schema`);
  const ref = `${DOCUMENT_ID}#/${pointer('paths', found.template, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema')}`;
  let validate = checker.compiled.get(ref);
  if (!validate) {
    validate = checker.ajv.compile({ $ref: ref });
    checker.compiled.set(ref, validate);
  }
  assert.ok(validate(body), `${method} ${found.template} ${status}: the body does not fit the OpenAPI document: ${checker.ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
}
