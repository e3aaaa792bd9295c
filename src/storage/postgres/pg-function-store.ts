import type pg from 'pg';
import { toJsonb, toText } from './jsonb.js';
import type { FunctionFilter, FunctionRecord, FunctionSchema, FunctionStore, FunctionType, NewFunction } from '../../functions/function.js';
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
    (SELECT s.content FROM meta.scripts s WHERE s.function_id = f.id ORDER BY s.updated_at DESC LIMIT 1) AS script_content
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
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO meta.functions (language, title, language_title, description, schema_definition, examples, created_by, tags, cacheable, dependencies, function_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'dynamic')
         ON CONFLICT (language_title) DO NOTHING
         RETURNING id`,
        [fn.language, fn.title, fn.languageTitle, toText(fn.description), toJsonb(fn.schema), toJsonb(fn.examples), toText(fn.createdBy), fn.tags.map((t) => toText(t)), fn.cacheable, toJsonb(fn.dependencies ?? null)],
      );
      const id = inserted.rows[0]?.id;
      if (!id) {
        await client.query('ROLLBACK');
        return undefined;
      }
      await client.query('INSERT INTO meta.scripts (function_id, content) VALUES ($1, $2)', [id, fn.scriptContent]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return this.get(fn.languageTitle);
  }
}
