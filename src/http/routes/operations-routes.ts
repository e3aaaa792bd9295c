import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import { ServiceError } from '../../errors/service-error.js';
import type { Metrics } from '../../observability/metrics.js';
import { AnyJson } from '../api-schemas.js';

const HEALTH_SHAPE = '`{ "status": "ok" | "degraded" | "down", "version", "components": { "controller", "postgres", "redis", "runtimes": { "<language>": { "status", ... } } } }`';

export interface ComponentHealth {
  status: 'up' | 'down' | 'degraded' | 'unavailable' | 'not_configured';
  [detail: string]: unknown;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  version: string;
  components: {
    controller: ComponentHealth;
    postgres: ComponentHealth;
    redis: ComponentHealth;
    runtimes: Record<string, ComponentHealth>;
  };
}

/** Compares digests, so neither the token's length nor its prefix shows in the time taken. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** GET /health (no auth; 200 while the service can serve, 503 when it cannot) and GET /metrics (METRICS_TOKEN when set). */
export interface OperationsRoutesOptions {
  readonly health: () => Promise<HealthReport>;
  readonly metrics: Metrics;
  /** When set, GET /metrics wants `Authorization: Bearer <token>`. */
  readonly metricsToken?: string;
}

export const operationsRoutes: FastifyPluginCallback<OperationsRoutesOptions> = (app, deps, done) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['operations'],
        summary: 'Health of the service and what it depends on',
        description: '200 while the service can serve (`ok` or `degraded`), 503 when it cannot (`down`). No auth.',
        security: [],
        response: { 200: AnyJson(HEALTH_SHAPE), 503: AnyJson(HEALTH_SHAPE) },
      },
    },
    async (_request, reply) => {
      const report = await deps.health();
      return reply.status(report.status === 'down' ? 503 : 200).send(report);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        description: 'With METRICS_TOKEN set, wants `Authorization: Bearer <METRICS_TOKEN>` (not a JWT).',
        security: [],
        produces: ['text/plain'],
      },
    },
    async (request, reply) => {
      const token = deps.metricsToken;
      if (token !== undefined) {
        const header = request.headers.authorization;
        const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
        if (!sameToken(given, token)) throw new ServiceError('UNAUTHORIZED', '/metrics needs "Authorization: Bearer <METRICS_TOKEN>"', { header: 'Authorization' });
      }
      const text = await deps.metrics.registry.metrics();
      return reply.header('content-type', deps.metrics.registry.contentType).send(text);
    },
  );
  done();
};
