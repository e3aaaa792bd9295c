/**
 * A runtime as the service runs it by default: a pool of local runtime processes (sandboxed
 * children, src/rpc/process-runtime.ts), built by the service's own wiring from a configuration
 * whose runtime settings match the in-process fixtures'.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig } from '../../src/config/config.js';
import { createProcessRuntimePool } from '../../src/main/runtimes.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import type { Language, Runtime } from '../../src/runtimes/runtime.js';
import { MemoryModuleStore } from '../../src/runtimes/kit/module-store.js';
import { detectCgroups } from '../../src/sandbox/cgroup.js';
import { RUST_TEST_CACHE_DIR } from '../helpers/rust.js';

/** For runRuntimeContract: `language` in `count` runtime processes; stopping the pool also releases their cgroups. */
export function localProcesses(language: Language, env: Record<string, string> = {}, count = 1): () => Promise<Runtime> {
  return () => {
    const config = loadConfig(
      { DATA_DIR: mkdtempSync(join(tmpdir(), 'lm-test-data-')), RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR, [`${language.toUpperCase()}_PROCESSES`]: String(count), ...env },
      'test',
    );
    const cgroups = detectCgroups(config.runtimeProcesses.cgroups);
    const pool = createProcessRuntimePool(language, config, createSilentLogger(), cgroups, () => new MemoryModuleStore(config.rust.maxModuleBytes));
    const stop = pool.stop.bind(pool);
    return Promise.resolve(
      Object.assign(pool, {
        stop: async () => {
          await stop();
          cgroups.close();
        },
      }),
    );
  };
}
