/**
 * Builds the Rust runtime's crate set (src/runtimes/rust/crates.json) for wasm32-wasi ahead of a
 * start, so that `npm start` and `npm test` do not wait ≈ 2 minutes for it on a fresh machine:
 * into RUST_TOOLCHAIN_DIR as the service would resolve it from this environment, or with `--test`
 * into the test suite's shared cache. Run by scripts/setup.mjs; does nothing when the build is
 * there, and only warns when the toolchain is missing (the runtime then reports why itself).
 */
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { openRustToolchain } from '../src/runtimes/rust/rust-toolchain.js';
import { RUST_TEST_CACHE_DIR } from '../test/helpers/rust.js';

const forTests = process.argv.includes('--test');
const config = loadConfig(process.env);
const toolchainDir = forTests ? RUST_TEST_CACHE_DIR : config.rust.toolchainDir;
try {
  // Logs only what takes time (the build), on stderr like the rest of setup.
  await openRustToolchain({ toolchainDir, compileMemoryLimitMb: config.rust.compileMemoryLimitMb, logger: createLogger('info', process.stderr) });
} catch (error) {
  process.stderr.write(`[setup] the Rust crate set was not built (${error instanceof Error ? error.message : String(error)}); the Rust runtime will say why when it starts\n`);
}
