/**
 * The HTTP side of security: who the caller is (auth.ts) on every request, CORS exactly as the
 * contract's section 5 says, and per-caller rate limits from @fastify/rate-limit, stored in Redis
 * when there is one so every replica shares them (in-process otherwise).
 */
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { DOCS_PATH } from './api-docs.js';
import { ServiceError } from '../errors/service-error.js';
import { ALL_SCOPES, type Principal } from '../common/principal.js';
import type { Authenticator } from './auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export interface RateLimits {
  readonly enabled: boolean;
  readonly executeAuthenticatedPerMinute: number;
  readonly executeAnonymousPerMinute: number;
  readonly functionsPerMinute: number;
}

export interface SecurityOptions {
  /** Undefined: auth is off, every caller is anonymous and holds every scope (loopback default). */
  readonly authenticator: Authenticator | undefined;
  /** Scopes anonymous callers hold when auth is on (none by default). */
  readonly anonymousScopes: readonly string[];
  readonly corsOrigins: readonly string[];
  readonly rateLimits: RateLimits;
  /** Shared rate-limit counters; in-process when absent. */
  readonly redis?: Redis;
  /** Failed authentications allowed per client address and minute; beyond, 429 until the minute ends (0: no bound). */
  readonly authFailuresPerMinute?: number;
  /** Routes that check a credential of their own instead of a JWT (/metrics with METRICS_TOKEN). */
  readonly ownCredentialRoutes?: readonly string[];
}

const AUTH_FAILURE_WINDOW_MS = 60_000;

/**
 * Failed authentications per client address in the current minute: a caller guessing tokens (or
 * making the service verify many signatures) is refused at once after the bound. In-process, per
 * replica, at most 100,000 addresses remembered (the least recently failing ones are forgotten).
 */
class AuthFailures {
  readonly #limit: number;
  /** Failures per address in its current window: the window starts at the first failure and is not extended by later ones. */
  readonly #failures = new LRUCache<string, number>({ max: 100_000, ttl: AUTH_FAILURE_WINDOW_MS, noUpdateTTL: true });

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Throws RATE_LIMITED while `address` is over the bound. */
  check(address: string): void {
    const count = this.#failures.get(address);
    if (count === undefined || count < this.#limit) return;
    const retry = Math.max(1, Math.ceil(this.#failures.getRemainingTTL(address) / 1000));
    throw new ServiceError('RATE_LIMITED', `Too many failed authentications from this address; retry in ${retry} s`, {
      reason: 'auth_failures',
      limit: this.#limit,
      retry_after_seconds: retry,
    });
  }

  failed(address: string): void {
    this.#failures.set(address, (this.#failures.get(address) ?? 0) + 1);
  }
}

/** Which rate-limit group a route belongs to (undefined: not limited). */
export type RateGroup = 'execute' | 'functions';

declare module 'fastify' {
  interface FastifyContextConfig {
    rateGroup?: RateGroup;
    /** Answered without a token: what describes the API (the OpenAPI document, the index). */
    public?: boolean;
  }
}

export async function registerSecurity(app: FastifyInstance, options: SecurityOptions): Promise<void> {
  app.decorateRequest('principal', null as unknown as Principal);
  const anonymousScopes = new Set(options.authenticator ? options.anonymousScopes : ALL_SCOPES);
  const ownCredential = new Set(options.ownCredentialRoutes ?? []);
  const authFailures = options.authFailuresPerMinute ? new AuthFailures(options.authFailuresPerMinute) : undefined;

  app.addHook('onRequest', async (request) => {
    const address = request.ip ?? 'unknown';
    if (!options.authenticator) {
      request.principal = { anonymous: true, userId: undefined, scopes: anonymousScopes, rateKey: `ip:${address}` };
      return;
    }
    const url = request.routeOptions.url ?? '';
    // /docs and its assets (@fastify/swagger-ui's routes, which take no config) describe the API too.
    const isPublic = request.routeOptions.config.public === true || url === DOCS_PATH || url.startsWith(`${DOCS_PATH}/`);
    if (url === '/health' || request.method === 'OPTIONS' || ownCredential.has(url) || isPublic) {
      request.principal = { anonymous: true, userId: undefined, scopes: new Set(), rateKey: `ip:${address}` };
      return;
    }
    const header = request.headers.authorization;
    authFailures?.check(address);
    let principal: Principal;
    try {
      principal = await options.authenticator.authenticate(typeof header === 'string' ? header : undefined, address);
    } catch (error) {
      authFailures?.failed(address);
      throw error;
    }
    request.principal = principal.anonymous ? { ...principal, scopes: anonymousScopes } : principal;
  });

  const origins = options.corsOrigins;
  await app.register(cors, {
    origin: origins.includes('*') ? true : origins.length === 0 ? false : [...origins],
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'Language-Title', 'X-Request-ID', 'X-Cache-Control', 'traceparent', 'tracestate'],
    exposedHeaders: ['X-Request-ID', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'traceresponse'],
    maxAge: 86400,
    // An OPTIONS request that is not a CORS preflight is answered, not refused in plain text.
    strictPreflight: false,
  });

  if (!options.rateLimits.enabled) return;
  const limits = options.rateLimits;
  await app.register(rateLimit, {
    global: false,
    // After authentication, so that the limit counts per user (anonymous callers per address).
    hook: 'preHandler',
    timeWindow: 60_000,
    ...(options.redis ? { redis: options.redis, nameSpace: 'ratelimit:' } : {}),
    // A Redis that cannot answer must not stop the service: requests pass unlimited meanwhile.
    skipOnError: true,
    keyGenerator: (request: FastifyRequest) => `${request.routeOptions.config.rateGroup ?? 'other'}:${request.principal.rateKey}`,
    max: (request: FastifyRequest) => {
      if (request.routeOptions.config.rateGroup === 'functions') return limits.functionsPerMinute;
      return request.principal.anonymous ? limits.executeAnonymousPerMinute : limits.executeAuthenticatedPerMinute;
    },
    errorResponseBuilder: (_request, context) =>
      new ServiceError('RATE_LIMITED', `Rate limit of ${context.max} requests per minute reached; retry in ${Math.ceil(context.ttl / 1000)} s`, {
        limit: context.max,
        retry_after_seconds: Math.ceil(context.ttl / 1000),
      }),
  });
}

/** The route options that put a route under a rate-limit group. */
export function rateLimited(group: RateGroup): { config: { rateGroup: RateGroup; rateLimit: Record<string, never> } } {
  return { config: { rateGroup: group, rateLimit: {} } };
}
