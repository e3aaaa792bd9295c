/**
 * The API described: OpenAPI 3.1 built from the route schemas by @fastify/swagger, served at
 * GET /api/v1/openapi.json, and an interactive reference at GET /docs (@fastify/swagger-ui, its
 * assets served from the package: no CDN, so it works offline). GET / says where everything is
 * (API_INDEX, to clients that do not ask for HTML; console-routes.ts serves it). All three are
 * public: they describe the API, they do not use it.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

import { SCOPES } from '../common/principal.js';

export const OPENAPI_PATH = '/api/v1/openapi.json';
export const DOCS_PATH = '/docs';

/** What `GET /` answers a client that does not ask for HTML (a browser gets the web console: console-routes.ts). */
export const API_INDEX = Object.freeze({
  name: 'Lambda Microservice',
  // The web console, for a browser (Accept: text/html) at the same path.
  console: '/',
  docs: DOCS_PATH,
  openapi: OPENAPI_PATH,
  health: '/health',
  metrics: '/metrics',
});

const DESCRIPTION = `Runs untrusted Node.js, Python and Rust (WebAssembly) functions. Initialize a session with a
script once, then execute it many times with different params.

**Auth**: when the service is configured for it, every route but \`/health\`, \`/metrics\` and these
docs wants \`Authorization: Bearer <JWT>\` whose \`scope\` holds what the route needs:
${Object.values(SCOPES)
  .map((scope) => `\`${scope}\``)
  .join(', ')}. With auth off every caller holds every scope.

**Errors**: every error body is \`{ "error": { "code", "message", "details" } }\` (ErrorEnvelope).`;

export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Lambda Microservice', version: '1', description: DESCRIPTION },
      tags: [
        { name: 'execution', description: 'initialize a session, execute it' },
        { name: 'sessions', description: 'the caller\'s sessions' },
        { name: 'functions', description: 'the functions catalog' },
        { name: 'runtimes', description: 'what each language offers' },
        { name: 'operations', description: 'health, metrics, these docs' },
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `JWT with \`sub\`, \`exp\` and \`scope\` (${Object.values(SCOPES).join(' ')})` },
        },
      },
      security: [{ bearer: [] }],
    },
    // The shared schemas are components: routes refer to them by $ref.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transformObject: (documents) => {
      if (!('openapiObject' in documents)) return documents.swaggerObject;
      addRequestIds(documents.openapiObject as unknown as OpenApiDocument);
      return documents.openapiObject;
    },
  });

  app.get(OPENAPI_PATH, { config: { public: true }, schema: { hide: true } }, () => app.swagger());

  await app.register(swaggerUi, {
    routePrefix: DOCS_PATH,
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true },
    staticCSP: true,
    theme: { title: 'Lambda Microservice API' },
    transformSpecificationClone: true,
  });
}

/** The parts of an OpenAPI 3.1 document this file touches. */
interface OpenApiDocument {
  components?: { parameters?: Record<string, unknown>; headers?: Record<string, unknown>; [part: string]: unknown };
  paths?: Record<string, Partial<Record<'get' | 'put' | 'post' | 'delete' | 'patch', { parameters?: unknown[]; responses?: Record<string, { headers?: Record<string, unknown>; $ref?: string }> }>>>;
  [field: string]: unknown;
}

const REQUEST_ID_REF = '#/components/parameters/XRequestId';
const REQUEST_ID_PARAMETER = {
  name: 'X-Request-ID',
  in: 'header',
  required: false,
  description: 'kept when it is a token of at most 128 characters (letters, digits, `._:@/+=-`), else a new UUID; echoed on the answer',
  schema: { type: 'string', maxLength: 128 },
};
const REQUEST_ID_HEADER = { description: 'the request\'s id (the caller\'s X-Request-ID, or a new UUID)', schema: { type: 'string' } };

/** Every operation takes X-Request-ID and answers it (app.ts does it for every route, so it is said once here). */
function addRequestIds(document: OpenApiDocument): void {
  document.components = { ...document.components, parameters: { ...document.components?.parameters, XRequestId: REQUEST_ID_PARAMETER }, headers: { ...document.components?.headers, XRequestId: REQUEST_ID_HEADER } };
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item?.[method];
      // Idempotent: the document may be transformed more than once.
      if (!operation || operation.parameters?.some((p) => (p as { $ref?: string }).$ref === REQUEST_ID_REF)) continue;
      operation.parameters = [...(operation.parameters ?? []), { $ref: REQUEST_ID_REF }];
      for (const response of Object.values(operation.responses ?? {})) {
        if (response.$ref !== undefined) continue;
        response.headers = { ...response.headers, 'X-Request-ID': { $ref: '#/components/headers/XRequestId' } };
      }
    }
  }
}
