-- Up Migration
-- The read APIs (issue 16): each of their queries is one range scan of one of these indexes, so it
-- stays fast however many request_logs rows there are (bench/read-apis.ts measures it over a
-- million). On a large request_logs the build holds writes back for its duration: the service's
-- log rows wait in its write-behind queue meanwhile (and on disk beyond it), none is lost.

-- GET /api/v1/sessions/{id}/executions: one session's rows, newest first, paged by (timestamp, id).
-- request_id leads it, so it serves every lookup by session the old index served.
CREATE INDEX request_logs_request_id_timestamp_idx ON public.request_logs (request_id, timestamp DESC, id DESC);
DROP INDEX public.request_logs_request_id_idx;

-- GET /api/v1/functions/{language_title}/stats: one Language-Title's executes in a window, read from
-- the index alone (what the figures need is in it). Only executes: initialize rows are not calls.
-- The literal is EXECUTE_ENDPOINT (src/storage/request-log.ts), as audit.ts writes it.
CREATE INDEX request_logs_execute_stats_idx ON public.request_logs (language_title, timestamp)
  INCLUDE (duration_ms, status_code, cached)
  WHERE endpoint = 'POST /api/v1/execute/:requestId';

-- GET /api/v1/sessions, newest first, paged by (created_at, request_id): a user's own sessions, and
-- (auth off, or anonymous callers) the sessions made without a token.
CREATE INDEX sessions_user_created_idx ON meta.sessions (user_id, created_at DESC, request_id DESC);
CREATE INDEX sessions_created_idx ON meta.sessions (created_at DESC, request_id DESC);

-- Down Migration
DROP INDEX meta.sessions_created_idx;
DROP INDEX meta.sessions_user_created_idx;
DROP INDEX public.request_logs_execute_stats_idx;
CREATE INDEX request_logs_request_id_idx ON public.request_logs (request_id);
DROP INDEX public.request_logs_request_id_timestamp_idx;
