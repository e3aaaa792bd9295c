import type pg from 'pg';
import { toJsonb, toText } from './jsonb.js';
import type { FunctionBehaviour, FunctionFilter, FunctionRecord, FunctionSchema, FunctionStore, FunctionType, FunctionVersion, NewFunction } from '../../functions/function.js';
import type { Language } from '../../runtimes/runtime.js';

interface FunctionRow {
  id: string;
  language: string;
  title: string;
  language_title: string;
  description: string | null;
  schema_definition: FunctionSchema | null;
  examples: unknown[] | null;
  function_type: string;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  version: string;
  tags: string[] | null;
  script_content: string | null;
  cacheable: boolean;
  dependencies: Record<string, string> | null;
}

const SELECT = `SELECT f.id, f.language, f.title, f.language_title, f.description, f.schema_definition, f.examples,
    f.function_type, f.created_by, f.created_at, f.updated_at, f.version, f.tags, f.cacheable, f.dependencies,
    (SELECT s.content FROM meta.scripts s WHERE s.function_id = f.id ORDER BY s.updated_at DESC, s.created_at DESC LIMIT 1) AS script_content
  FROM meta.functions f`;

function toRecord(row: FunctionRow): FunctionRecord {
  return {
    id: row.id,
    language: row.language as Language,
    title: row.title,
    languageTitle: row.language_title,
    description: row.description,
    schema: row.schema_definition,
    examples: row.examples ?? [],
    type: row.function_type as FunctionType,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
    tags: row.tags ?? [],
    scriptContent: row.script_content,
    cacheable: row.cacheable,
    dependencies: row.dependencies,
  };
}

/** meta.functions and meta.scripts in PostgreSQL. */
export class PgFunctionStore implements FunctionStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async list(filter: FunctionFilter, offset: number, limit: number): Promise<{ total: number; functions: FunctionRecord[] }> {
    const where = `WHERE f.is_active
      AND ($1::text IS NULL OR f.language = $1)
      AND ($2::text IS NULL OR f.created_by = $2)
      AND ($3::text IS NULL OR f.function_type = $3)`;
    const args = [filter.language ?? null, filter.userId ?? null, filter.type ?? null];
    const [count, page] = await Promise.all([
      this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM meta.functions f ${where}`, args),
      this.#pool.query<FunctionRow>(`${SELECT} ${where} ORDER BY f.language_title LIMIT $4 OFFSET $5`, [...args, limit, offset]),
    ]);
    return { total: Number(count.rows[0]?.n ?? 0), functions: page.rows.map(toRecord) };
  }

  async get(languageTitle: string): Promise<FunctionRecord | undefined> {
    const { rows } = await this.#pool.query<FunctionRow>(`${SELECT} WHERE f.language_title = $1 AND f.is_active`, [languageTitle]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async getById(id: string): Promise<FunctionRecord | undefined> {
    const { rows } = await this.#pool.query<FunctionRow>(`${SELECT} WHERE f.id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async create(fn: NewFunction): Promise<FunctionRecord | undefined> {
    const id = await this.#transaction(async (client) => {
      const inserted = await client.query<{ id: string; version: string }>(
        `INSERT INTO meta.functions (language, title, language_title, description, schema_definition, examples, created_by, tags, cacheable, dependencies, function_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'dynamic')
         ON CONFLICT (language_title) DO NOTHING
         RETURNING id, version`,
        [fn.language, fn.title, fn.languageTitle, toText(fn.description), toJsonb(fn.schema), toJsonb(fn.examples), toText(fn.createdBy), fn.tags.map((t) => toText(t)), fn.cacheable, toJsonb(fn.dependencies ?? null)],
      );
      const row = inserted.rows[0];
      if (!row) return undefined;
      await this.#insertScript(client, row.id, { version: row.version, scriptContent: fn.scriptContent, schema: fn.schema, cacheable: fn.cacheable, createdBy: fn.createdBy });
      return row.id;
    });
    return id === undefined ? undefined : this.get(fn.languageTitle);
  }

  async behaviour(id: string, version: string | undefined): Promise<FunctionBehaviour | undefined> {
    if (version !== undefined) {
      const { rows } = await this.#pool.query<{ schema_definition: FunctionSchema | null; cacheable: boolean | null }>(
        'SELECT schema_definition, cacheable FROM meta.scripts WHERE function_id = $1 AND version = $2',
        [id, version],
      );
      const row = rows[0];
      if (row && row.cacheable !== null) return { schema: row.schema_definition, cacheable: row.cacheable };
    }
    const { rows } = await this.#pool.query<{ schema_definition: FunctionSchema | null; cacheable: boolean }>('SELECT schema_definition, cacheable FROM meta.functions WHERE id = $1', [id]);
    const row = rows[0];
    return row ? { schema: row.schema_definition, cacheable: row.cacheable } : undefined;
  }

  async update(id: string, from: string, next: FunctionVersion): Promise<FunctionRecord | undefined> {
    const updated = await this.#transaction(async (client) => {
      const changed = await client.query(
        `UPDATE meta.functions SET description = $4, schema_definition = $5, examples = $6, tags = $7, cacheable = $8, dependencies = $9,
           version = $3, updated_at = now()
         WHERE id = $1 AND version = $2 AND is_active AND function_type = 'dynamic'`,
        [id, from, next.version, toText(next.description), toJsonb(next.schema), toJsonb(next.examples), next.tags.map((t) => toText(t)), next.cacheable, toJsonb(next.dependencies)],
      );
      if (changed.rowCount !== 1) return false;
      await this.#insertScript(client, id, next);
      return true;
    });
    return updated ? this.getById(id) : undefined;
  }

  async deactivate(id: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(`UPDATE meta.functions SET is_active = false, updated_at = now() WHERE id = $1 AND is_active AND function_type = 'dynamic'`, [id]);
    return rowCount === 1;
  }

  /** One version's script row: what its sessions keep (src/functions/function.ts FunctionBehaviour). */
  async #insertScript(client: pg.PoolClient, id: string, v: Pick<FunctionVersion, 'version' | 'scriptContent' | 'schema' | 'cacheable' | 'createdBy'>): Promise<void> {
    await client.query('INSERT INTO meta.scripts (function_id, content, version, schema_definition, cacheable, created_by) VALUES ($1, $2, $3, $4, $5, $6)', [
      id,
      v.scriptContent,
      v.version,
      toJsonb(v.schema),
      v.cacheable,
      toText(v.createdBy),
    ]);
  }

  /** `work` in one transaction; undefined or false from it rolls back. */
  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query(result === undefined || result === false ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
