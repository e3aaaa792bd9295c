-- Up Migration
-- The tables operators of the earlier implementation query with psql (contract section 7).
-- Names and columns are kept; columns are only ever added.
CREATE SCHEMA IF NOT EXISTS meta;

CREATE TABLE meta.functions (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  language          text NOT NULL,
  title             text NOT NULL,
  language_title    text NOT NULL UNIQUE,
  description       text,
  schema_definition jsonb,
  examples          jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  created_by        text,
  is_active         boolean NOT NULL DEFAULT true,
  version           text NOT NULL DEFAULT '1.0.0',
  tags              text[] NOT NULL DEFAULT '{}',
  function_type     text NOT NULL DEFAULT 'dynamic' CHECK (function_type IN ('predefined', 'dynamic'))
);
CREATE INDEX functions_language_idx ON meta.functions (language);
CREATE INDEX functions_created_by_idx ON meta.functions (created_by);

CREATE TABLE meta.scripts (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  function_id uuid NOT NULL REFERENCES meta.functions (id) ON DELETE CASCADE,
  content     text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scripts_function_id_idx ON meta.scripts (function_id, updated_at DESC);

CREATE TABLE meta.sessions (
  request_id        uuid PRIMARY KEY,
  language_title    text NOT NULL,
  user_id           text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz NOT NULL,
  last_executed_at  timestamptz,
  execution_count   bigint NOT NULL DEFAULT 0,
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'completed', 'error')),
  context           jsonb NOT NULL DEFAULT '{}'::jsonb,
  script_content    text,
  script_hash       text,
  compiled_artifact bytea,
  compile_options   jsonb,
  compile_status    text,
  compile_error     text,
  metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
  function_id       uuid REFERENCES meta.functions (id) ON DELETE SET NULL,
  language          text
);
CREATE INDEX sessions_active_expiry_idx ON meta.sessions (expires_at) WHERE status = 'active';

CREATE TABLE public.request_logs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id       text,
  language_title   text,
  timestamp        timestamptz NOT NULL DEFAULT now(),
  client_ip        text,
  user_id          text,
  request_headers  jsonb,
  request_payload  jsonb,
  response_payload jsonb,
  status_code      integer NOT NULL,
  duration_ms      double precision NOT NULL,
  cached           boolean NOT NULL DEFAULT false,
  error_details    jsonb,
  runtime_metrics  jsonb,
  endpoint         text,
  correlation_id   text
);
CREATE INDEX request_logs_request_id_idx ON public.request_logs (request_id);
CREATE INDEX request_logs_timestamp_idx ON public.request_logs (timestamp);

CREATE TABLE public.error_logs (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_log_id uuid REFERENCES public.request_logs (id) ON DELETE CASCADE,
  timestamp      timestamptz NOT NULL DEFAULT now(),
  error_code     text NOT NULL,
  error_message  text NOT NULL,
  stack_trace    text,
  context        jsonb
);
CREATE INDEX error_logs_request_log_id_idx ON public.error_logs (request_log_id);
CREATE INDEX error_logs_timestamp_idx ON public.error_logs (timestamp);

-- Down Migration
DROP TABLE public.error_logs;
DROP TABLE public.request_logs;
DROP TABLE meta.sessions;
DROP TABLE meta.scripts;
DROP TABLE meta.functions;
DROP SCHEMA meta;
