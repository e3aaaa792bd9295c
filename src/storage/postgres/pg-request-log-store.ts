import type pg from 'pg';
import type { RequestLogEntry, RequestLogStore } from '../request-log.js';
import { toJsonb } from './jsonb.js';

/** public.request_logs and public.error_logs: a batch per statement (both tables, all or nothing). */
export class PgRequestLogStore implements RequestLogStore {
  readonly #pool: pg.Pool;
  readonly #onUnstorable: ((entry: RequestLogEntry, error: unknown) => void) | undefined;

  constructor(pool: pg.Pool, onUnstorable?: (entry: RequestLogEntry, error: unknown) => void) {
    this.#pool = pool;
    this.#onUnstorable = onUnstorable;
  }

  async writeBatch(batch: readonly RequestLogEntry[]): Promise<void> {
    try {
      await this.#insert(batch);
    } catch (error) {
      // A data error (SQLSTATE class 22) is about one row, not the database: retrying the same batch
      // would block every later row. Write the rows one by one; a row that still fails is stored
      // without its payloads, so the request is still counted.
      if (!isDataError(error)) throw error;
      for (const entry of batch) {
        try {
          await this.#insert([entry]);
        } catch (rowError) {
          if (!isDataError(rowError)) throw rowError;
          const bare: RequestLogEntry = {
            ...entry,
            requestHeaders: {},
            requestPayload: { unstorable: String(rowError) },
            responsePayload: null,
            errorDetails: null,
            runtimeMetrics: null,
            ...(entry.error ? { error: { code: entry.error.code, message: '(message not storable)', stackTrace: null, context: null } } : {}),
          };
          try {
            await this.#insert([bare]);
          } catch (bareError) {
            // Never let one row block every later one: it is dropped, and said so.
            if (!isDataError(bareError)) throw bareError;
            this.#onUnstorable?.(entry, bareError);
          }
        }
      }
    }
  }

  async #insert(batch: readonly RequestLogEntry[]): Promise<void> {
    if (batch.length === 0) return;
    const requests = batch.map((e) => ({
      id: e.id,
      request_id: e.requestId,
      language_title: e.languageTitle,
      timestamp: e.timestamp.toISOString(),
      client_ip: e.clientIp,
      user_id: e.userId,
      request_headers: e.requestHeaders,
      request_payload: e.requestPayload ?? null,
      response_payload: e.responsePayload ?? null,
      status_code: e.statusCode,
      duration_ms: e.durationMs,
      cached: e.cached,
      error_details: e.errorDetails ?? null,
      runtime_metrics: e.runtimeMetrics ?? null,
      endpoint: e.endpoint,
      correlation_id: e.correlationId,
    }));
    const errors = batch
      .filter((e) => e.error)
      .map((e) => ({
        request_log_id: e.id,
        timestamp: e.timestamp.toISOString(),
        error_code: e.error?.code,
        error_message: e.error?.message,
        stack_trace: e.error?.stackTrace ?? null,
        context: e.error?.context ?? null,
      }));
    // One statement, so one round trip and atomic without a transaction of its own. ON CONFLICT
    // makes a retried batch (committed, but the answer was lost) a no-op: each row once; an
    // error_logs row is written only with the request_logs row it belongs to, so once too.
    await this.#pool.query(
      `WITH inserted AS (
         INSERT INTO public.request_logs (id, request_id, language_title, timestamp, client_ip, user_id, request_headers,
           request_payload, response_payload, status_code, duration_ms, cached, error_details, runtime_metrics, endpoint, correlation_id)
         SELECT id, request_id, language_title, timestamp, client_ip, user_id, request_headers, request_payload,
           response_payload, status_code, duration_ms, cached, error_details, runtime_metrics, endpoint, correlation_id
         FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, request_id text, language_title text, timestamp timestamptz,
           client_ip text, user_id text, request_headers jsonb, request_payload jsonb, response_payload jsonb,
           status_code integer, duration_ms double precision, cached boolean, error_details jsonb, runtime_metrics jsonb,
           endpoint text, correlation_id text)
         ON CONFLICT (id) DO NOTHING
         RETURNING id)
       INSERT INTO public.error_logs (request_log_id, timestamp, error_code, error_message, stack_trace, context)
       SELECT e.request_log_id, e.timestamp, e.error_code, e.error_message, e.stack_trace, e.context
       FROM jsonb_to_recordset($2::jsonb) AS e(request_log_id uuid, timestamp timestamptz, error_code text,
         error_message text, stack_trace text, context jsonb)
       WHERE e.request_log_id IN (SELECT id FROM inserted)`,
      [toJsonb(requests), toJsonb(errors)],
    );
  }
}

function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
}
