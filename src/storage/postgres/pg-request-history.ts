/**
 * The read side of public.request_logs (the writer is pg-request-log-store.ts). Each query is a
 * range of one index of migration 9: request_logs_request_id_timestamp_idx for a session's
 * executions, request_logs_execute_stats_idx (index-only) for a Language-Title's figures.
 */
import type pg from 'pg';
import { pageOf, type Page, type PageKey } from '../../common/cursor.js';
import { NO_CALLS, type ExecutionEntry, type RequestHistoryStore, type StatsFigures } from '../../history/history-service.js';
import { EXECUTE_ENDPOINT } from '../request-log.js';
import { afterKey, keyTime, parameters } from './page-key.js';

// A literal, not a parameter: the planner matches it to the partial index's predicate.
const IS_EXECUTE = `endpoint = '${EXECUTE_ENDPOINT}'`;

interface StatsRow {
  total: boolean;
  bucket: Date | null;
  calls: number;
  errors: number;
  cache_hits: number;
  p: (number | null)[] | null;
}

/** Milliseconds to the microsecond. */
const ms = (value: number | null | undefined): number | null => (value === null || value === undefined ? null : Math.round(value * 1000) / 1000);

function figures(row: StatsRow): StatsFigures {
  return { calls: row.calls, errors: row.errors, cacheHits: row.cache_hits, p50: ms(row.p?.[0]), p95: ms(row.p?.[1]), p99: ms(row.p?.[2]) };
}

export class PgRequestHistory implements RequestHistoryStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async executions(requestId: string, after: PageKey | undefined, limit: number): Promise<Page<ExecutionEntry>> {
    const { values, arg } = parameters();
    const where = [`request_id = ${arg(requestId)}`, IS_EXECUTE];
    if (after) where.push(afterKey('timestamp', 'id', after, arg));
    // Named as ExecutionEntry's fields: the rows are the entries (with their key beside).
    const { rows } = await this.#pool.query<ExecutionEntry & { key_at: string }>(
      `SELECT id, timestamp, ${keyTime('timestamp')} AS key_at, status_code AS "statusCode", duration_ms AS "durationMs", cached,
              COALESCE(request_payload->'params', 'null') AS params, COALESCE(response_payload, 'null') AS response,
              error_details->>'code' AS "errorCode", error_details->>'message' AS "errorMessage", correlation_id AS "correlationId"
         FROM public.request_logs
        WHERE ${where.join(' AND ')}
        ORDER BY timestamp DESC, id DESC
        LIMIT ${arg(limit + 1)}`,
      values,
    );
    return pageOf(rows, limit, (row) => ({ at: row.key_at, id: row.id }));
  }

  /** One scan for both: GROUPING SETS gives the whole window's row and one row per bucket. */
  async stats(languageTitle: string, from: Date, to: Date, bucketSeconds: number): Promise<{ total: StatsFigures; buckets: { start: Date; figures: StatsFigures }[] }> {
    const { rows } = await this.#pool.query<StatsRow>(
      `SELECT GROUPING(bucket) = 1 AS total, bucket, count(*)::int AS calls,
              (count(*) FILTER (WHERE status_code >= 400))::int AS errors,
              (count(*) FILTER (WHERE cached))::int AS cache_hits,
              percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) AS p
         FROM (SELECT date_bin($4::int * interval '1 second', timestamp, TIMESTAMPTZ 'epoch') AS bucket, status_code, cached, duration_ms
                 FROM public.request_logs
                WHERE ${IS_EXECUTE} AND language_title = $1 AND timestamp >= $2 AND timestamp <= $3) AS calls
        GROUP BY GROUPING SETS ((), (bucket))`,
      [languageTitle, from, to, bucketSeconds],
    );
    const total = rows.find((row) => row.total);
    return {
      total: total ? figures(total) : NO_CALLS,
      buckets: rows.filter((row) => !row.total && row.bucket !== null).map((row) => ({ start: row.bucket as Date, figures: figures(row) })),
    };
  }
}
