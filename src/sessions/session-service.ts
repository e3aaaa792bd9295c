/**
 * Sessions: created by initialize (the script checked/compiled once), kept hot in memory (and in
 * the shared cache, for the other replicas) so that the warm execute path needs no database read,
 * extended or updated by PATCH, ended by DELETE, by `retain_session: false` after the first
 * execute, or by expiry (a periodic sweep). Every end or change is announced on the shared cache's
 * invalidation channel, so every replica drops its in-memory copy at once.
 */
import { createHash, randomUUID } from 'node:crypto';
import { assertJsonLimits, type JsonLimits } from '../common/json-limits.js';
import { isPlainObject } from '../common/plain-object.js';
import { requireExecuteScope, type Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';
import type { LanguageRouter } from '../execution/language-router.js';
import type { FunctionStore } from '../functions/function.js';
import type { Logger } from '../observability/logger.js';
import { withSpan } from '../observability/tracing.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { Language } from '../runtimes/runtime.js';
import { ActivityRecorder } from './activity-recorder.js';
import { canonicalJson } from './canonical-json.js';
import type { SessionCache } from './session-cache.js';
import type { SessionRecord, SessionStatus, SessionStore } from './session.js';

export interface SessionServiceOptions {
  readonly store: SessionStore;
  readonly cache: SessionCache;
  readonly functions: FunctionStore;
  readonly runtimes: RuntimeRegistry;
  readonly router: LanguageRouter;
  readonly logger: Logger;
  readonly sessionExpirySeconds: number;
  readonly sessionMaxLifetimeSeconds: number;
  readonly maxScriptSize: number;
  readonly contextLimits: JsonLimits;
  readonly activityFlushIntervalMs: number;
  /** Hot sessions kept in memory; the least recently used beyond this are dropped (and reloaded on use). */
  readonly maxHotSessions?: number;
  readonly onSessionCreated?: (language: Language) => void;
}

export interface InitializeInput {
  readonly languageTitle: string | undefined;
  readonly body: unknown;
  /** The caller; an authenticated one owns the session (others get 404 for it). */
  readonly principal: Principal;
}

/** A session as the API shows it (GET /api/v1/sessions/{id}). */
export interface SessionView {
  request_id: string;
  language_title: string;
  status: SessionStatus;
  created_at: string;
  expires_at: string;
  execution_count: number;
  last_executed_at: string | null;
  compile_status: string;
  user_id: string | null;
  context: Readonly<Record<string, unknown>>;
}

/** Mutable in-memory state of an active session: what the warm path reads. */
export interface HotSession {
  record: SessionRecord;
  executionCount: number;
  lastExecutedAt: Date | null;
  /** Set as soon as a `retain_session: false` session has been claimed by an execute. */
  ended: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Session ids are UUIDs: anything else is refused before any query. */
export function assertSessionId(requestId: string): string {
  if (!UUID.test(requestId)) {
    throw new ServiceError('INVALID_REQUEST', 'request_id must be a UUID as returned by initialize', { request_id: requestId.slice(0, 64) });
  }
  return requestId.toLowerCase();
}

export function scriptHash(language: Language, source: string, compileOptions: unknown): string {
  return createHash('sha256').update(language).update('\0').update(source).update('\0').update(canonicalJson(compileOptions ?? null)).digest('hex');
}

export class SessionService {
  readonly #o: SessionServiceOptions;
  readonly #hot = new Map<string, HotSession>();
  readonly #activity: ActivityRecorder;
  #activeCount = 0;

  constructor(options: SessionServiceOptions) {
    this.#o = options;
    this.#activity = new ActivityRecorder({
      logger: options.logger,
      intervalMs: options.activityFlushIntervalMs,
      write: (batch) => options.store.recordActivity(batch),
    });
  }

  /** Listens for other replicas' invalidations. */
  async start(): Promise<void> {
    await this.#o.cache.onInvalidate((id) => this.#drop(id));
  }

  /**
   * Forgets every in-memory copy without touching runtime state: used when invalidations may have
   * been missed (the shared cache was down). Sessions reload from the cache or the database.
   */
  dropAllHot(): void {
    this.#hot.clear();
  }

  /** An invalidated session: reloaded on its next use; a runtime context it still needs is reused. */
  #drop(id: string): void {
    const hot = this.#hot.get(id);
    if (hot && !hot.ended) this.#hot.delete(id);
  }

  /** Active sessions as of the last sweep (for metrics). */
  get activeCount(): number {
    return this.#activeCount;
  }

  async initialize(input: InitializeInput): Promise<{ session: SessionRecord; compileMs: number }> {
    const { language, languageTitle } = this.#o.router.resolve(input.languageTitle);
    requireExecuteScope(input.principal, language);
    if (!isPlainObject(input.body)) {
      throw new ServiceError('INVALID_REQUEST', 'The body must be a JSON object: { "script_content": "...", "context": { ... } }');
    }
    const body = input.body;
    const context = body.context ?? {};
    if (!isPlainObject(context)) throw new ServiceError('INVALID_REQUEST', '"context" must be a JSON object', { field: 'context' });
    const compileOptions = body.compile_options ?? context.compile_options;
    if (compileOptions !== undefined && !isPlainObject(compileOptions)) {
      throw new ServiceError('INVALID_REQUEST', '"compile_options" must be a JSON object', { field: 'compile_options' });
    }
    validateContext(context);
    assertJsonLimits(context, 'context', this.#o.contextLimits);
    if (compileOptions !== undefined) assertJsonLimits(compileOptions, 'compile_options', this.#o.contextLimits);

    let source: string;
    let functionId: string | null = null;
    if (body.script_content === undefined || body.script_content === null) {
      const fn = await this.#o.functions.get(languageTitle);
      if (!fn || fn.scriptContent === null) {
        throw new ServiceError('NOT_FOUND', `No registered function "${languageTitle}": send "script_content" or register the function first`, {
          language_title: languageTitle,
        });
      }
      source = fn.scriptContent;
      functionId = fn.id;
    } else if (typeof body.script_content !== 'string') {
      throw new ServiceError('INVALID_REQUEST', '"script_content" must be a string', { field: 'script_content' });
    } else {
      source = body.script_content;
    }
    const size = Buffer.byteLength(source, 'utf8');
    if (size > this.#o.maxScriptSize) {
      throw new ServiceError('INVALID_REQUEST', `script_content is ${size} bytes; the limit (MAX_SCRIPT_SIZE) is ${this.#o.maxScriptSize}`, { size, limit: this.#o.maxScriptSize }, 413);
    }
    if (source.trim() === '') throw new ServiceError('INVALID_REQUEST', 'script_content is empty', { field: 'script_content' });
    if (source.includes('\u0000')) throw new ServiceError('INVALID_REQUEST', 'script_content must not contain NUL characters', { field: 'script_content' });

    const runtime = this.#o.runtimes.get(language);
    const hash = scriptHash(language, source, compileOptions);
    const prepared = await withSpan('runtime.prepare', { 'lambda.language': language }, () => runtime.prepare({ scriptHash: hash, source, ...(compileOptions ? { compileOptions } : {}) }));

    const now = new Date();
    const requestId = randomUUID();
    // With auth on the token's subject is the user; with auth off, `context.user_id` as the client says.
    const owner = input.principal.anonymous ? undefined : input.principal.userId;
    const userId = owner ?? (typeof context.user_id === 'string' ? context.user_id : null);
    const record: SessionRecord = {
      requestId,
      languageTitle,
      language,
      userId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.#o.sessionExpirySeconds * 1000),
      lastExecutedAt: null,
      executionCount: 0,
      status: prepared.ok ? 'active' : 'error',
      context,
      scriptContent: source,
      scriptHash: hash,
      compiledArtifact: prepared.ok ? (prepared.artifact ?? null) : null,
      compileOptions: compileOptions ?? null,
      compileStatus: prepared.ok ? 'compiled' : 'failed',
      compileError: prepared.ok ? null : formatCompileError(prepared.error),
      metadata: { ...(prepared.ok ? { compile_ms: prepared.compileMs } : {}), ...(owner ? { owner } : {}) },
      functionId,
    };
    await this.#persist(record);
    if (!prepared.ok) {
      const { kind, message, line, column, diagnostics } = prepared.error;
      throw new ServiceError('COMPILATION_ERROR', `${kind}: ${message}${line ? ` (line ${line}${column ? `, column ${column}` : ''})` : ''}`, {
        request_id: requestId,
        kind,
        line,
        column,
        ...(diagnostics ? { diagnostics } : {}),
      });
    }
    this.#o.onSessionCreated?.(language);
    this.#activeCount++;
    this.#remember({ record, executionCount: 0, lastExecutedAt: null, ended: false });
    await this.#o.cache.put(record);
    return { session: record, compileMs: prepared.compileMs };
  }

  async #persist(record: SessionRecord): Promise<void> {
    try {
      await this.#o.store.insert(record);
    } catch (error) {
      this.#o.logger.error({ err: error }, 'could not store a new session');
      throw new ServiceError('SERVICE_UNAVAILABLE', 'The session could not be stored (database unavailable); try again shortly');
    }
  }

  /** The active session for an execute: from memory when hot, else loaded once. 404 if it cannot run. */
  async acquire(requestId: string, principal: Principal): Promise<HotSession> {
    const id = assertSessionId(requestId);
    let hot = this.#hot.get(id);
    if (hot) {
      // LRU: most recently used last.
      this.#hot.delete(id);
      this.#hot.set(id, hot);
    } else {
      const record = (await this.#o.cache.get(id)) ?? (await this.#load(id));
      if (!record) throw notFound(id);
      hot = { record, executionCount: record.executionCount, lastExecutedAt: record.lastExecutedAt, ended: record.status !== 'active' };
      if (record.status === 'active') this.#remember(hot);
    }
    assertOwner(hot.record, principal);
    requireExecuteScope(principal, hot.record.language);
    if (hot.ended || hot.record.status !== 'active') throw notFound(id, hot.record.status === 'error' ? 'failed to compile' : 'ended');
    if (hot.record.expiresAt.getTime() <= Date.now()) {
      this.#forget(id);
      throw notFound(id, 'expired');
    }
    return hot;
  }

  /** A session from the database, put in the shared cache for the next replica that needs it. */
  async #load(id: string): Promise<SessionRecord | undefined> {
    let record: SessionRecord | undefined;
    try {
      record = await this.#o.store.find(id);
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'session lookup failed');
      throw new ServiceError('SERVICE_UNAVAILABLE', 'The session could not be loaded (database unavailable); try again shortly', { request_id: id });
    }
    if (record?.status === 'active') await this.#o.cache.put(record);
    return record;
  }

  /** Counts an execution (written to the database in batches); ends a `retain_session: false` session. */
  recordExecution(hot: HotSession, at: Date): void {
    hot.executionCount++;
    hot.lastExecutedAt = at;
    const completed = hot.record.context.retain_session === false;
    if (completed) {
      // Stays in memory, ended, until the sweep: until the batched write lands, this copy is what
      // answers 404 to a second execute here and shows `completed`; the shared cache tells the rest.
      hot.ended = true;
      this.#release(hot);
      this.#activeCount = Math.max(0, this.#activeCount - 1);
      const ended: SessionRecord = { ...hot.record, status: 'completed', executionCount: hot.executionCount, lastExecutedAt: at };
      void this.#o.cache.replace(ended);
    }
    this.#activity.add({ requestId: hot.record.requestId, executions: 1, lastExecutedAt: at, completed });
  }

  /** Claims a `retain_session: false` session for its one execute, so a concurrent second one gets 404. */
  claim(hot: HotSession): void {
    if (hot.record.context.retain_session === false) {
      if (hot.ended) throw notFound(hot.record.requestId, 'ended');
      hot.ended = true;
    }
  }

  /**
   * The session as stored, with this replica's counters not yet written added: PostgreSQL holds
   * every replica's executions, memory only this one's. While the database is down, the
   * in-memory copy answers.
   */
  async get(requestId: string, principal: Principal): Promise<SessionView> {
    const id = assertSessionId(requestId);
    let record: SessionRecord | undefined;
    try {
      record = await this.#o.store.find(id);
    } catch (error) {
      const hot = this.#hot.get(id);
      if (hot) {
        assertOwner(hot.record, principal);
        return this.#view(hot.record, { executions: hot.executionCount, lastExecutedAt: hot.lastExecutedAt, completed: hot.ended });
      }
      this.#o.logger.warn({ err: error }, 'session lookup failed');
      throw new ServiceError('SERVICE_UNAVAILABLE', 'The session could not be loaded (database unavailable); try again shortly', { request_id: id });
    }
    if (!record || record.metadata.deleted === true || record.status === 'expired' || (record.status === 'active' && record.expiresAt.getTime() <= Date.now())) {
      throw notFound(id);
    }
    assertOwner(record, principal);
    requireExecuteScope(principal, record.language);
    const pending = this.#activity.pending(id);
    if (!pending) return this.#view(record);
    const last = record.lastExecutedAt && record.lastExecutedAt > pending.lastExecutedAt ? record.lastExecutedAt : pending.lastExecutedAt;
    return this.#view(record, { executions: record.executionCount + pending.executions, lastExecutedAt: last, completed: pending.completed });
  }

  async update(requestId: string, body: unknown, principal: Principal): Promise<SessionView> {
    const id = assertSessionId(requestId);
    if (!isPlainObject(body)) throw new ServiceError('INVALID_REQUEST', 'The body must be a JSON object with "expires_at" and/or "context"');
    const unknownKeys = Object.keys(body).filter((k) => k !== 'expires_at' && k !== 'context');
    if (unknownKeys.length > 0) throw new ServiceError('INVALID_REQUEST', `Unknown field(s): ${unknownKeys.join(', ')}`, { fields: unknownKeys });
    if (body.expires_at === undefined && body.context === undefined) {
      throw new ServiceError('INVALID_REQUEST', 'Nothing to update: send "expires_at" and/or "context"');
    }
    let expiresAt: Date | undefined;
    if (body.expires_at !== undefined) {
      expiresAt = parseTimestamp(body.expires_at);
      const now = Date.now();
      const max = now + this.#o.sessionMaxLifetimeSeconds * 1000;
      if (expiresAt.getTime() <= now) throw new ServiceError('INVALID_REQUEST', 'expires_at must be in the future', { field: 'expires_at' });
      if (expiresAt.getTime() > max) {
        throw new ServiceError('INVALID_REQUEST', `expires_at may be at most ${this.#o.sessionMaxLifetimeSeconds} s from now (${new Date(max).toISOString()})`, {
          field: 'expires_at',
          max: new Date(max).toISOString(),
        });
      }
    }
    let context: Record<string, unknown> | undefined;
    if (body.context !== undefined) {
      if (!isPlainObject(body.context)) throw new ServiceError('INVALID_REQUEST', '"context" must be a JSON object', { field: 'context' });
      validateContext(body.context);
      context = body.context;
    }
    const current = await this.get(id, principal);
    if (current.status !== 'active') throw new ServiceError('NOT_FOUND', `Session ${id} has ended (${current.status}); it cannot be updated`, { request_id: id });
    const hot = this.#hot.get(id);
    const merged = context ? { ...current.context, ...context } : undefined;
    if (merged) assertJsonLimits(merged, 'context', this.#o.contextLimits);
    const updated = await this.#o.store.update(id, { ...(expiresAt ? { expiresAt } : {}), ...(merged ? { context: merged } : {}) });
    if (!updated) throw notFound(id);
    if (hot) hot.record = updated;
    await this.#o.cache.replace(updated);
    return this.get(id, principal);
  }

  async delete(requestId: string, principal: Principal): Promise<void> {
    const id = assertSessionId(requestId);
    const record = await this.#o.store.find(id);
    if (!record || record.metadata.deleted === true) throw notFound(id);
    assertOwner(record, principal);
    requireExecuteScope(principal, record.language);
    const hot = this.#hot.get(id);
    if (hot) hot.ended = true;
    await this.#o.store.update(id, {
      ...(record.status === 'active' ? { status: 'completed' as const } : {}),
      metadata: { deleted: true, deleted_at: new Date().toISOString() },
    });
    if (record.status === 'active') this.#activeCount = Math.max(0, this.#activeCount - 1);
    this.#forget(id);
    await this.#o.cache.remove(id);
  }

  /** Marks expired sessions, drops them from memory and refreshes the active count. */
  async sweep(now = new Date()): Promise<number> {
    const expired = await this.#o.store.expireDue(now);
    for (const id of expired) this.#forget(id);
    for (const [id, hot] of this.#hot) if (hot.record.expiresAt <= now) this.#forget(id);
    this.#activeCount = await this.#o.store.countActive(now);
    return expired.length;
  }

  /** Writes pending execution counters; returns rows that could not be written. */
  async stop(deadlineMs: number): Promise<number> {
    return this.#activity.stop(deadlineMs);
  }

  flushActivity(): Promise<void> {
    return this.#activity.flush();
  }

  /** Sessions whose counters wait to be written. */
  get activityQueueDepth(): number {
    return this.#activity.depth;
  }

  #remember(hot: HotSession): void {
    this.#hot.set(hot.record.requestId, hot);
    const max = this.#o.maxHotSessions ?? 10_000;
    while (this.#hot.size > max) {
      const oldest = this.#hot.keys().next().value;
      if (oldest === undefined) break;
      this.#forget(oldest);
    }
  }

  #forget(id: string): void {
    const hot = this.#hot.get(id);
    if (!hot) return;
    this.#hot.delete(id);
    this.#release(hot);
  }

  #release(hot: HotSession): void {
    try {
      this.#o.runtimes.get(hot.record.language).release(hot.record.requestId);
    } catch {
      // Runtime gone or unavailable: it holds no warm state for this session either.
    }
  }

  #view(record: SessionRecord, live?: { executions: number; lastExecutedAt: Date | null; completed: boolean }): SessionView {
    const lastExecutedAt = live?.lastExecutedAt ?? record.lastExecutedAt;
    const status: SessionStatus = live?.completed ? 'completed' : record.status === 'active' && record.expiresAt.getTime() <= Date.now() ? 'expired' : record.status;
    return {
      request_id: record.requestId,
      language_title: record.languageTitle,
      status,
      created_at: record.createdAt.toISOString(),
      expires_at: record.expiresAt.toISOString(),
      execution_count: live?.executions ?? record.executionCount,
      last_executed_at: lastExecutedAt ? lastExecutedAt.toISOString() : null,
      compile_status: record.compileStatus,
      user_id: record.userId,
      context: record.context,
    };
  }
}

/**
 * A session made by an authenticated caller belongs to them: anyone else is told it does not exist
 * (404, not 403, so ids cannot be probed). Sessions made without a token have no owner.
 */
function assertOwner(record: SessionRecord, principal: Principal): void {
  const owner = record.metadata.owner;
  if (typeof owner === 'string' && owner !== principal.userId) throw notFound(record.requestId);
}

function notFound(id: string, why?: string): ServiceError {
  return new ServiceError('NOT_FOUND', why ? `Session ${id} has ${why}` : `No active session ${id}`, { request_id: id });
}

function parseTimestamp(value: unknown): Date {
  // RFC 3339: a date, "T", a time and a zone (Z or an offset).
  const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
  if (typeof value !== 'string' || !rfc3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw new ServiceError('INVALID_REQUEST', 'expires_at must be an RFC 3339 timestamp such as "2026-01-01T12:00:00Z"', { field: 'expires_at' });
  }
  return new Date(value);
}

/** Checks the context fields the service itself reads. */
function validateContext(context: Record<string, unknown>): void {
  const { timeout_ms: timeoutMs, retain_session: retain, user_id: userId } = context;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new ServiceError('INVALID_REQUEST', 'context.timeout_ms must be a positive integer (milliseconds)', { field: 'context.timeout_ms' });
  }
  if (retain !== undefined && typeof retain !== 'boolean') {
    throw new ServiceError('INVALID_REQUEST', 'context.retain_session must be a boolean', { field: 'context.retain_session' });
  }
  if (userId !== undefined && userId !== null && typeof userId !== 'string') {
    throw new ServiceError('INVALID_REQUEST', 'context.user_id must be a string', { field: 'context.user_id' });
  }
}

function formatCompileError(error: { kind: string; message: string; line?: number; column?: number; diagnostics?: string }): string {
  const where = error.line ? ` at line ${error.line}${error.column ? `, column ${error.column}` : ''}` : '';
  return `${error.kind}: ${error.message}${where}${error.diagnostics ? `\n${error.diagnostics}` : ''}`;
}
