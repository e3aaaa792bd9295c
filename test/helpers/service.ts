import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import { startService, type RunningService } from '../../src/main/service.js';
import type { LightMyRequestResponse } from 'fastify';
import { after, before } from 'node:test';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { checkAgainstOpenApi } from './openapi.js';
import { RUST_TEST_CACHE_DIR } from './rust.js';

/**
 * The whole service in-process (routes tested with inject), on the given environment. Each gets
 * a DATA_DIR of its own (spool, embedded database) unless one is given; the Rust toolchain build
 * (serde_json for wasm32-wasi) is shared by every test on the machine.
 */
export async function startTestService(env: Record<string, string>): Promise<RunningService> {
  const config = loadConfig(
    {
      LOG_FLUSH_INTERVAL_MS: '20',
      NODEJS_POOL_SIZE: '2',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'lm-test-data-')),
      RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR,
      ...env,
    },
    'test',
  );
  return startService(config, createSilentLogger());
}

/**
 * For one describe block: a scratch database and the service on it, started before its tests
 * (handed to `assign`) and stopped and dropped after them.
 */
export function onScratchService(env: Record<string, string>, assign: (started: { db: TestDatabase; service: RunningService }) => void): void {
  let started: { db: TestDatabase; service: RunningService } | undefined;
  let db: TestDatabase | undefined;
  before(async () => {
    db = await createTestDatabase();
    started = { db, service: await startTestService({ DATABASE_URL: db.url, ...env }) };
    assign(started);
  });
  after(async () => {
    await started?.service.stop();
    await db?.drop();
  });
}

export interface JsonResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly headers: LightMyRequestResponse['headers'];
}

type AnyJson = Record<string, any>;

export async function call(
  service: RunningService,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  options: { body?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
): Promise<JsonResponse<AnyJson>> {
  const headers: Record<string, string> = { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  const response = await service.app.inject({
    method,
    url,
    headers,
    ...(options.rawBody !== undefined ? { payload: options.rawBody } : options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}),
  });
  const text = response.body;
  let body: AnyJson = {};
  const contentType = String(response.headers['content-type'] ?? '');
  if (text.length > 0 && contentType.includes('json')) body = JSON.parse(text) as AnyJson;
  checkAgainstOpenApi(service.app, method, url, response.statusCode, contentType, body);
  return { status: response.statusCode, body, headers: response.headers };
}

export async function initialize(service: RunningService, languageTitle: string, body: unknown): Promise<JsonResponse<AnyJson>> {
  return call(service, 'POST', '/api/v1/initialize', { body, headers: { 'language-title': languageTitle } });
}

export async function execute(service: RunningService, requestId: string, params: unknown, headers: Record<string, string> = {}): Promise<JsonResponse<AnyJson>> {
  return call(service, 'POST', `/api/v1/execute/${requestId}`, { body: { params }, headers });
}
