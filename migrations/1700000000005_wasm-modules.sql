-- Up Migration
-- Compiled WebAssembly modules of the Rust runtime, shared by every replica and kept across
-- restarts: a script is compiled once per (script, compile options, toolchain), whoever asks.
CREATE TABLE meta.wasm_modules (
  cache_key    text PRIMARY KEY,
  module       bytea NOT NULL,
  toolchain    text NOT NULL,
  size_bytes   integer NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now()
);
-- For pruning the modules nobody has used for a long time.
CREATE INDEX wasm_modules_last_used_at_idx ON meta.wasm_modules (last_used_at);

-- Down Migration
DROP TABLE meta.wasm_modules;
