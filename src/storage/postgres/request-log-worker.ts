/**
 * The request log writer's worker thread (threaded-request-log-store.ts): its own event loop and
 * its own PostgreSQL connections, so that writing rows never waits for turns of a service thread
 * saturated by HTTP traffic (measured: 1,400 rows/s written on the service thread while it answered
 * 9,700 requests/s at 1,000 connections). It serialises and writes the batches it is sent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import type { RequestLogEntry } from '../request-log.js';
import { PgRequestLogStore } from './pg-request-log-store.js';

export interface RequestLogWorkerData {
  readonly connection: pg.PoolConfig;
}

export type RequestLogWorkerRequest = { readonly id: number; readonly batch: readonly RequestLogEntry[] };

export type RequestLogWorkerAnswer =
  | { readonly id: number; readonly ok: true }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code: string | undefined }
  | { readonly unstorable: { readonly id: string; readonly message: string } };

const port = parentPort;
if (!port) throw new Error('request-log-worker runs as a worker thread');
const { connection } = workerData as RequestLogWorkerData;
const pool = new pg.Pool({ ...connection, max: 2, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000, application_name: 'lambda-microservice request logs' });
pool.on('error', () => undefined);
const store = new PgRequestLogStore(pool, (entry, error) => port.postMessage({ unstorable: { id: entry.id, message: String(error) } } satisfies RequestLogWorkerAnswer));

port.on('message', (request: RequestLogWorkerRequest | 'close') => {
  if (request === 'close') {
    void pool.end().finally(() => port.close());
    return;
  }
  store.writeBatch(request.batch).then(
    () => port.postMessage({ id: request.id, ok: true } satisfies RequestLogWorkerAnswer),
    (error: unknown) =>
      port.postMessage({ id: request.id, ok: false, message: error instanceof Error ? error.message : String(error), code: (error as { code?: string }).code } satisfies RequestLogWorkerAnswer),
  );
});
