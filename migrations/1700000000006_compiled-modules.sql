-- Up Migration
-- The compiled-module store holds more than WebAssembly now: the Node.js runtime keeps the esbuild
-- bundles of scripts with npm dependencies there too (keys are hashes that name their kind, and
-- `toolchain` says what built each module).
ALTER TABLE meta.wasm_modules RENAME TO compiled_modules;
ALTER INDEX meta.wasm_modules_last_used_at_idx RENAME TO compiled_modules_last_used_at_idx;

-- Down Migration
ALTER INDEX meta.compiled_modules_last_used_at_idx RENAME TO wasm_modules_last_used_at_idx;
ALTER TABLE meta.compiled_modules RENAME TO wasm_modules;
