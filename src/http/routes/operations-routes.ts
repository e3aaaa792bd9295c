import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import { ServiceError } from '../../errors/service-error.js';
import type { Metrics } from '../../observability/metrics.js';

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
  app.get('/health', async (_request, reply) => {
    const report = await deps.health();
    return reply.status(report.status === 'down' ? 503 : 200).send(report);
  });

  app.get('/metrics', async (request, reply) => {
    const token = deps.metricsToken;
    if (token !== undefined) {
      const header = request.headers.authorization;
      const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!sameToken(given, token)) throw new ServiceError('UNAUTHORIZED', '/metrics needs "Authorization: Bearer <METRICS_TOKEN>"', { header: 'Authorization' });
    }
    const text = await deps.metrics.registry.metrics();
    return reply.header('content-type', deps.metrics.registry.contentType).send(text);
  });
  done();
};
