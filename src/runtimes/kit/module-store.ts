/**
 * Where compiled modules outlive a process, so that another replica or a restart reuses a compile:
 * the Rust runtime's WebAssembly modules and the Node.js bundler's esbuild bundles (keys are
 * hashes that name their kind). Injected; `src/storage/postgres/pg-module-store.ts` keeps them in
 * PostgreSQL.
 */
import { LRUCache } from 'lru-cache';

export interface StoredModule {
  /** The module as the compiler wrote it (a WebAssembly module before the runtime caps its memory; a bundle's UTF-8). */
  readonly module: Uint8Array;
  /** The toolchain that built it, e.g. `rustc-1.63.0+serde_json-1.0.87+…`, `esbuild-0.28.2+bundle-1`. */
  readonly toolchain: string;
}

export interface ModuleStore {
  /** The module under `cacheKey`, or undefined. Also marks it used. */
  get(cacheKey: string): Promise<StoredModule | undefined>;
  /** Keeps a module; a module already kept under the key is left as it is. */
  put(cacheKey: string, module: StoredModule): Promise<void>;
}

/**
 * A store in this process only (tests, and a runtime server without DATABASE_URL), bounded so that
 * many distinct scripts do not grow the process without end: past `maxBytes` of modules (the server
 * passes RUST_MAX_MODULE_BYTES) the least recently used leave; one larger than that is not kept.
 */
export class MemoryModuleStore implements ModuleStore {
  readonly #modules: LRUCache<string, StoredModule>;

  constructor(maxBytes: number) {
    this.#modules = new LRUCache({ maxSize: maxBytes, sizeCalculation: (stored) => Math.max(1, stored.module.byteLength) });
  }

  get(cacheKey: string): Promise<StoredModule | undefined> {
    return Promise.resolve(this.#modules.get(cacheKey));
  }

  put(cacheKey: string, module: StoredModule): Promise<void> {
    if (!this.#modules.has(cacheKey)) this.#modules.set(cacheKey, { module: module.module.slice(), toolchain: module.toolchain });
    return Promise.resolve();
  }
}
