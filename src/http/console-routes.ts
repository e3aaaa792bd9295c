/**
 * The web console (web/, a Preact app bundled by Vite into dist/web/ by `npm run build`) at `/`.
 * `GET /` is content-negotiated: a browser (Accept names text/html) gets the console; any other
 * caller (curl's `*\/*`, `application/json`, no Accept) gets the JSON index of where things are,
 * as before. The page and its assets are public (the console holds no data: it calls the API
 * with the caller's own token) and served from this service only: no CDN, nothing at run time
 * from elsewhere, and a strict Content-Security-Policy with a fresh nonce per page for the
 * <style> elements CodeMirror injects.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { projectPath } from '../config/paths.js';
import { ServiceError } from '../errors/service-error.js';
import { API_INDEX } from './api-docs.js';

export interface ConsoleRoutesOptions {
  /** The built console (index.html and assets/); default dist/web/ of the project. */
  readonly dir?: string;
}

export const CONSOLE_BUILD_DIR = projectPath('dist', 'web');

/**
 * The console's policy: scripts, styles, connections and images from this origin only; the one
 * exception is <style> elements carrying this page's nonce (CodeMirror's, EditorView.cspNonce).
 * No inline script, no eval, no framing, no plugins, no <base>.
 */
export function consoleContentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The quality an Accept header gives a media type named explicitly (wildcards do not count); 0 when absent. */
function explicitQuality(accept: string, type: string): number {
  for (const part of accept.toLowerCase().split(',')) {
    const [range, ...parameters] = part.split(';').map((s) => s.trim());
    if (range !== type) continue;
    const q = parameters.find((p) => p.startsWith('q='));
    const value = q ? Number(q.slice(2)) : 1;
    return Number.isFinite(value) ? value : 0;
  }
  return 0;
}

/** A browser navigating to `/` names text/html; a client of the JSON index does not (or prefers JSON). */
export function wantsConsole(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = explicitQuality(accept, 'text/html');
  return html > 0 && html >= explicitQuality(accept, 'application/json');
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** GET / (console or JSON index) and GET /assets/*, both public and out of the OpenAPI document. */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): Promise<void> {
  const dir = options.dir ?? CONSOLE_BUILD_DIR;
  const indexPath = join(dir, 'index.html');
  const missing = (): ServiceError =>
    new ServiceError('SERVICE_UNAVAILABLE', `The web console is not built: ${indexPath} is missing. Run \`npm run build\` (npm start does it) and restart.`, { missing: indexPath });
  if (!existsSync(indexPath)) app.log.warn({ missing: indexPath }, 'the web console is not built (npm run build): GET / answers an error to browsers');

  // Only reply.sendFile (serve: false): the routes are declared here, public and out of the OpenAPI document.
  await app.register(fastifyStatic, { root: join(dir, 'assets'), serve: false, suppressWarning: true });

  const sendConsole = async (reply: FastifyReply): Promise<FastifyReply> => {
    void reply.header('vary', 'Accept').headers(SECURITY_HEADERS);
    let page: string;
    try {
      page = await readFile(indexPath, 'utf8');
    } catch {
      const error = missing();
      return reply.status(error.status).send(error.toEnvelope());
    }
    const nonce = randomBytes(18).toString('base64');
    // Vite wrote a placeholder nonce on every tag it emitted and on <meta property="csp-nonce">.
    const html = page.replace(/\bnonce="[^"]*"/g, `nonce="${nonce}"`);
    return reply
      .header('content-security-policy', consoleContentSecurityPolicy(nonce))
      .header('x-frame-options', 'DENY')
      // A new nonce per answer: never cached.
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(html);
  };

  app.get('/', { config: { public: true }, schema: { hide: true } }, async (request: FastifyRequest, reply: FastifyReply) => {
    if (wantsConsole(request.headers.accept)) return sendConsole(reply);
    void reply.header('vary', 'Accept');
    return API_INDEX;
  });

  // Bundles named by their content hash: cached for good.
  app.get<{ Params: { '*': string } }>('/assets/*', { config: { public: true }, schema: { hide: true } }, (request, reply) =>
    reply
      .headers(SECURITY_HEADERS)
      .header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
      .sendFile(request.params['*'], { maxAge: 365 * 24 * 3600 * 1000, immutable: true }),
  );
}
