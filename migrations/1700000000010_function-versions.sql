-- Up Migration
-- PATCH /api/v1/functions/{language_title} (issue 16): every change makes a new version, one
-- meta.scripts row each (the newest is the function's script, as before). A row keeps what a
-- session started on that version goes on using after later changes: its script (also copied into
-- meta.sessions), its params schema and its cache flag. created_by: who made the version.
ALTER TABLE meta.scripts
  ADD COLUMN version text,
  ADD COLUMN schema_definition jsonb,
  ADD COLUMN cacheable boolean,
  ADD COLUMN created_by text;

-- Each function's current script row is its current version.
UPDATE meta.scripts s
   SET version = f.version, schema_definition = f.schema_definition, cacheable = f.cacheable, created_by = f.created_by
  FROM meta.functions f
 WHERE s.function_id = f.id
   AND s.id = (SELECT s2.id FROM meta.scripts s2 WHERE s2.function_id = f.id ORDER BY s2.updated_at DESC, s2.created_at DESC LIMIT 1);

CREATE UNIQUE INDEX scripts_function_version_idx ON meta.scripts (function_id, version) WHERE version IS NOT NULL;

-- Down Migration
DROP INDEX meta.scripts_function_version_idx;
ALTER TABLE meta.scripts
  DROP COLUMN created_by,
  DROP COLUMN cacheable,
  DROP COLUMN schema_definition,
  DROP COLUMN version;
