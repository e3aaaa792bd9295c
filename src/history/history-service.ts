/**
 * What the request log tells a user (issue 16): a session's executions, newest first, as they were
 * stored (masked by http/audit.ts), and a Language-Title's call figures over a window, whole and in
 * time buckets (for charts). Both read public.request_logs, which is written behind the responses:
 * the last LOG_FLUSH_INTERVAL_MS of requests may not be in it yet.
 */
import { decodeCursor, encodeCursor, PAGE_LIMIT, type Page, type PageKey } from '../common/cursor.js';
import { requireScope, SCOPES, type Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';
import type { LanguageRouter } from '../execution/language-router.js';
import type { Logger } from '../observability/logger.js';
import type { ExecutionPage, ExecutionsQuery, FunctionStats, StatsFiguresView, StatsQuery } from '../http/read-schemas.js';
import type { SessionService } from '../sessions/session-service.js';

/** One execute of a session as request_logs holds it. */
export interface ExecutionEntry {
  readonly id: string;
  readonly timestamp: Date;
  readonly statusCode: number;
  readonly durationMs: number;
  readonly cached: boolean;
  /** The body's `params`, masked; null when the body had none. */
  readonly params: unknown;
  /** The answer (the result, or the error envelope), masked and bounded. */
  readonly response: unknown;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  /** The request's X-Request-ID. */
  readonly correlationId: string | null;
}

/** Executes in a span of time: how many, how many failed (HTTP status ≥ 400), how many the cache answered, and duration percentiles. */
export interface StatsFigures {
  readonly calls: number;
  readonly errors: number;
  readonly cacheHits: number;
  /** Milliseconds (request_logs.duration_ms: the whole request as the service timed it); null without calls. */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** The figures of a span without calls. */
export const NO_CALLS: StatsFigures = { calls: 0, errors: 0, cacheHits: 0, p50: null, p95: null, p99: null };

export interface RequestHistoryStore {
  /** A session's executes, newest first by (timestamp, id). */
  executions(requestId: string, after: PageKey | undefined, limit: number): Promise<Page<ExecutionEntry>>;
  /** A Language-Title's executes with from ≤ timestamp ≤ to: whole, and per bucket of `bucketSeconds` (aligned to the Unix epoch; buckets without calls left out). */
  stats(languageTitle: string, from: Date, to: Date, bucketSeconds: number): Promise<{ total: StatsFigures; buckets: { start: Date; figures: StatsFigures }[] }>;
}

/** The windows stats accept, each with the bucket size that gives 15 to 60 buckets. */
export const STATS_WINDOWS = {
  '15m': { seconds: 15 * 60, bucketSeconds: 60 },
  '1h': { seconds: 3600, bucketSeconds: 2 * 60 },
  '6h': { seconds: 6 * 3600, bucketSeconds: 10 * 60 },
  '24h': { seconds: 24 * 3600, bucketSeconds: 30 * 60 },
  '7d': { seconds: 7 * 24 * 3600, bucketSeconds: 4 * 3600 },
} as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;
export const DEFAULT_STATS_WINDOW: StatsWindow = '1h';

/** One execution as the API answers it (read-schemas.ts). */
type ExecutionView = ExecutionPage['executions'][number];

export interface HistoryServiceOptions {
  readonly sessions: SessionService;
  readonly store: RequestHistoryStore;
  readonly router: LanguageRouter;
  readonly logger: Logger;
}

export class HistoryService {
  readonly #o: HistoryServiceOptions;

  constructor(options: HistoryServiceOptions) {
    this.#o = options;
  }

  /**
   * GET /api/v1/sessions/{id}/executions: who may read it as for GET of the session (its owner, in
   * a language they may execute), also once it has ended; 404 for anyone else.
   */
  async executions(requestId: string, query: ExecutionsQuery, principal: Principal): Promise<ExecutionPage> {
    const session = await this.#o.sessions.readable(requestId, principal);
    const after = decodeCursor(query.cursor);
    const page = await this.#read(() => this.#o.store.executions(session.requestId, after, query.limit ?? PAGE_LIMIT.default));
    return { request_id: session.requestId, language_title: session.languageTitle, executions: page.items.map(executionView), next_cursor: encodeCursor(page.next) };
  }

  /**
   * GET /api/v1/functions/{language_title}/stats (scope `read:functions`): every execute under the
   * Language-Title in the window ending now, whether its session ran the registered function or a
   * script of its own; zeros when there were none. Buckets cover the window from the one holding
   * its start to the one holding now, empty ones included (the first and last are partial).
   */
  async stats(languageTitle: string, query: StatsQuery, principal: Principal): Promise<FunctionStats> {
    requireScope(principal, [SCOPES.readFunctions]);
    const title = this.#o.router.resolve(languageTitle).languageTitle;
    // One of STATS_WINDOWS: the route's schema refuses any other.
    const window = query.window ?? DEFAULT_STATS_WINDOW;
    const spec = STATS_WINDOWS[window];
    const to = new Date();
    const from = new Date(to.getTime() - spec.seconds * 1000);
    const { total, buckets } = await this.#read(() => this.#o.store.stats(title, from, to, spec.bucketSeconds));
    const bucketMs = spec.bucketSeconds * 1000;
    const found = new Map(buckets.map((b) => [b.start.getTime(), b.figures]));
    const series: FunctionStats['buckets'] = [];
    for (let start = Math.floor(from.getTime() / bucketMs) * bucketMs; start <= to.getTime(); start += bucketMs) {
      series.push({ start: new Date(start).toISOString(), ...figuresView(found.get(start) ?? NO_CALLS) });
    }
    return { language_title: title, window, from: from.toISOString(), to: to.toISOString(), bucket_seconds: spec.bucketSeconds, ...figuresView(total), buckets: series };
  }

  async #read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'request log read failed');
      throw new ServiceError('SERVICE_UNAVAILABLE', 'The request log could not be read (database unavailable); try again shortly');
    }
  }
}

function figuresView(f: StatsFigures): StatsFiguresView {
  return { calls: f.calls, errors: f.errors, cache_hits: f.cacheHits, p50_ms: f.p50, p95_ms: f.p95, p99_ms: f.p99 };
}

function executionView(e: ExecutionEntry): ExecutionView {
  return {
    id: e.id,
    timestamp: e.timestamp.toISOString(),
    status_code: e.statusCode,
    duration_ms: e.durationMs,
    cached: e.cached,
    params: e.params,
    response: e.response,
    error_code: e.errorCode,
    error_message: e.errorMessage,
    correlation_id: e.correlationId,
  };
}
