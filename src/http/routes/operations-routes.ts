import type { FastifyInstance } from 'fastify';
import type { HttpAppDependencies } from '../app.js';

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

/** GET /health (no auth; 200 while the service can serve, 503 when it cannot) and GET /metrics. */
export function registerOperationsRoutes(app: FastifyInstance, deps: HttpAppDependencies): void {
  app.get('/health', async (_request, reply) => {
    const report = await deps.health();
    return reply.status(report.status === 'down' ? 503 : 200).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.header('content-type', deps.metrics.registry.contentType).send(text);
  });
}
