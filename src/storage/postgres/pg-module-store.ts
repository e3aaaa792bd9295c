import type pg from 'pg';
import type { StoredModule, ModuleStore } from '../../runtimes/kit/module-store.js';

/** How often one module's `last_used_at` is written at most (reads mark it used). */
const TOUCH_INTERVAL_MS = 60_000;

/** meta.compiled_modules in PostgreSQL: compiled modules shared by every replica. Every query is parameterised. */
export class PgModuleStore implements ModuleStore {
  readonly #pool: pg.Pool;
  readonly #touched = new Map<string, number>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async get(cacheKey: string): Promise<StoredModule | undefined> {
    const now = Date.now();
    const recentlyTouched = now - (this.#touched.get(cacheKey) ?? 0) < TOUCH_INTERVAL_MS;
    const { rows } = recentlyTouched
      ? await this.#pool.query<{ module: Buffer; toolchain: string }>('SELECT module, toolchain FROM meta.compiled_modules WHERE cache_key = $1', [cacheKey])
      : await this.#pool.query<{ module: Buffer; toolchain: string }>(
          'UPDATE meta.compiled_modules SET last_used_at = now() WHERE cache_key = $1 RETURNING module, toolchain',
          [cacheKey],
        );
    const row = rows[0];
    if (!row) return undefined;
    if (!recentlyTouched) this.#remember(cacheKey, now);
    return { module: new Uint8Array(row.module.buffer, row.module.byteOffset, row.module.byteLength), toolchain: row.toolchain };
  }

  async put(cacheKey: string, module: StoredModule): Promise<void> {
    await this.#pool.query(
      `INSERT INTO meta.compiled_modules (cache_key, module, toolchain, size_bytes)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (cache_key) DO NOTHING`,
      [cacheKey, Buffer.from(module.module.buffer, module.module.byteOffset, module.module.byteLength), module.toolchain, module.module.byteLength],
    );
    this.#remember(cacheKey, Date.now());
  }

  /** Deletes the modules not used since `olderThan`; returns how many. */
  async prune(olderThan: Date): Promise<number> {
    const result = await this.#pool.query('DELETE FROM meta.compiled_modules WHERE last_used_at < $1', [olderThan]);
    return result.rowCount ?? 0;
  }

  #remember(cacheKey: string, at: number): void {
    this.#touched.set(cacheKey, at);
    if (this.#touched.size > 10_000) {
      for (const [key, when] of this.#touched) if (at - when >= TOUCH_INTERVAL_MS) this.#touched.delete(key);
      if (this.#touched.size > 10_000) this.#touched.clear();
    }
  }
}
