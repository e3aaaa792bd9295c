/**
 * The Rust runtime for tests: serde_json is built once per machine into a cache dir under the OS
 * temp dir (shared by every test file, ≈ 7–13 s the first time), modules kept in the given store.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createSilentLogger } from '../../src/observability/logger.js';
import { RustRuntime, type RustRuntimeOptions } from '../../src/runtimes/rust/rust-runtime.js';
import { MemoryModuleStore } from '../../src/runtimes/kit/module-store.js';
import { DEFAULTS, OUTPUT_LIMITS } from './defaults.js';

export const RUST_TEST_CACHE_DIR = join(tmpdir(), 'lambda-rust-test-cache');

export function newRustRuntime(options: Partial<RustRuntimeOptions> = {}): RustRuntime {
  return new RustRuntime({
    ...DEFAULTS.rust,
    ...OUTPUT_LIMITS,
    compileTimeoutMs: DEFAULTS.wasmCompileTimeoutSeconds * 1000,
    logger: createSilentLogger(),
    store: new MemoryModuleStore(DEFAULTS.rust.maxModuleBytes),
    toolchainDir: RUST_TEST_CACHE_DIR,
    poolSize: 2,
    ...options,
  });
}
