import type pg from 'pg';
import { pageOf, type Page } from '../../common/cursor.js';
import { toJsonb, toText } from './jsonb.js';
import { afterKey, keyTime, parameters } from './page-key.js';
import type { Language } from '../../runtimes/runtime.js';
import type { CompileStatus, SessionActivity, SessionListFilter, SessionPatch, SessionRecord, SessionStatus, SessionStore } from '../../sessions/session.js';

interface SessionRow {
  request_id: string;
  language_title: string;
  language: string | null;
  user_id: string | null;
  created_at: Date;
  expires_at: Date;
  last_executed_at: Date | null;
  execution_count: string;
  status: string;
  context: Record<string, unknown>;
  script_content: string | null;
  script_hash: string | null;
  compiled_artifact: Buffer | null;
  compile_options: Record<string, unknown> | null;
  compile_status: string | null;
  compile_error: string | null;
  metadata: Record<string, unknown>;
  function_id: string | null;
}

const COLUMNS = `request_id, language_title, language, user_id, created_at, expires_at, last_executed_at,
  execution_count, status, context, script_content, script_hash, compiled_artifact, compile_options,
  compile_status, compile_error, metadata, function_id`;

/** A list shows no script nor compiled artifact: a page of 100 stays small. */
const LIST_COLUMNS = COLUMNS.replace('script_content', 'NULL::text AS script_content').replace('compiled_artifact', 'NULL::bytea AS compiled_artifact');

/** The language of a row the earlier implementation wrote (no language column) is its Language-Title's prefix. */
const LANGUAGE = `COALESCE(language, split_part(language_title, '-', 1))`;

function toRecord(row: SessionRow): SessionRecord {
  return {
    requestId: row.request_id,
    languageTitle: row.language_title,
    language: (row.language ?? row.language_title.split('-')[0]) as Language,
    userId: row.user_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastExecutedAt: row.last_executed_at,
    executionCount: Number(row.execution_count),
    status: row.status as SessionStatus,
    context: row.context,
    scriptContent: row.script_content ?? '',
    scriptHash: row.script_hash ?? '',
    compiledArtifact: row.compiled_artifact,
    compileOptions: row.compile_options,
    compileStatus: (row.compile_status ?? 'compiled') as CompileStatus,
    compileError: row.compile_error,
    metadata: row.metadata,
    functionId: row.function_id,
  };
}

/** meta.sessions in PostgreSQL. Every query is parameterised. */
export class PgSessionStore implements SessionStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async insert(s: SessionRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO meta.sessions (${COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [
        s.requestId, s.languageTitle, s.language, toText(s.userId), s.createdAt, s.expiresAt, s.lastExecutedAt,
        s.executionCount, s.status, toJsonb(s.context), s.scriptContent, s.scriptHash,
        s.compiledArtifact ? Buffer.from(s.compiledArtifact) : null, toJsonb(s.compileOptions), s.compileStatus,
        toText(s.compileError), toJsonb(s.metadata), s.functionId,
      ],
    );
  }

  async find(requestId: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.#pool.query<SessionRow>(`SELECT ${COLUMNS} FROM meta.sessions WHERE request_id = $1`, [requestId]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async update(requestId: string, patch: SessionPatch): Promise<SessionRecord | undefined> {
    const { rows } = await this.#pool.query<SessionRow>(
      `UPDATE meta.sessions SET
         expires_at = COALESCE($2, expires_at),
         context = COALESCE($3, context),
         status = COALESCE($4, status),
         metadata = metadata || COALESCE($5, '{}'::jsonb)
       WHERE request_id = $1
       RETURNING ${COLUMNS}`,
      [requestId, patch.expiresAt ?? null, toJsonb(patch.context), patch.status ?? null, toJsonb(patch.metadata)],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async recordActivity(batch: readonly SessionActivity[]): Promise<void> {
    if (batch.length === 0) return;
    await this.#pool.query(
      `UPDATE meta.sessions s SET
         execution_count = s.execution_count + a.executions,
         last_executed_at = GREATEST(s.last_executed_at, a.last_executed_at),
         status = CASE WHEN a.completed AND s.status = 'active' THEN 'completed' ELSE s.status END
       FROM jsonb_to_recordset($1::jsonb) AS a(request_id uuid, executions bigint, last_executed_at timestamptz, completed boolean)
       WHERE s.request_id = a.request_id`,
      [
        toJsonb(
          batch.map((a) => ({
            request_id: a.requestId,
            executions: a.executions,
            last_executed_at: a.lastExecutedAt.toISOString(),
            completed: a.completed,
          })),
        ),
      ],
    );
  }

  async expireDue(now: Date): Promise<string[]> {
    const { rows } = await this.#pool.query<{ request_id: string }>(
      `UPDATE meta.sessions SET status = 'expired' WHERE status = 'active' AND expires_at <= $1 RETURNING request_id`,
      [now],
    );
    return rows.map((r) => r.request_id);
  }

  async countActive(now: Date): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM meta.sessions WHERE status = 'active' AND expires_at > $1`,
      [now],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Newest first by (created_at, request_id): a range of sessions_user_created_idx or sessions_created_idx. */
  async list(filter: SessionListFilter): Promise<Page<SessionRecord>> {
    const { values, arg } = parameters();
    const where = [`metadata->>'deleted' IS DISTINCT FROM 'true'`];
    if (filter.owner === null) where.push(`NOT (metadata ? 'owner')`);
    else {
      const owner = arg(filter.owner);
      where.push(`user_id = ${owner}`, `metadata->>'owner' = ${owner}`);
    }
    if (filter.languages) where.push(`${LANGUAGE} = ANY(${arg(filter.languages)}::text[])`);
    if (filter.language) where.push(`${LANGUAGE} = ${arg(filter.language)}`);
    if (filter.languageTitle) where.push(`language_title = ${arg(filter.languageTitle)}`);
    if (filter.status === 'active') where.push(`status = 'active' AND expires_at > ${arg(filter.now)}`);
    else if (filter.status === 'expired') where.push(`(status = 'expired' OR (status = 'active' AND expires_at <= ${arg(filter.now)}))`);
    else if (filter.status) where.push(`status = ${arg(filter.status)}`);
    if (filter.after) where.push(afterKey('created_at', 'request_id', filter.after, arg));
    const { rows } = await this.#pool.query<SessionRow & { key_at: string }>(
      `SELECT ${LIST_COLUMNS}, ${keyTime('created_at')} AS key_at FROM meta.sessions
       WHERE ${where.join(' AND ')}
       ORDER BY created_at DESC, request_id DESC
       LIMIT ${arg(filter.limit + 1)}`,
      values,
    );
    const page = pageOf(rows, filter.limit, (row) => ({ at: row.key_at, id: row.request_id }));
    return { items: page.items.map(toRecord), next: page.next };
  }
}
