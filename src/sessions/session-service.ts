/**
 * Sessions: created by initialize (the script checked/compiled once), kept hot in memory (and in
 * the shared cache, for the other replicas) so that the warm execute path needs no database read,
 * extended or updated by PATCH, ended by DELETE, by `retain_session: false` after the first
 * execute, or by expiry (a periodic sweep). Every end or change is announced on the shared cache's
 * invalidation channel, so every replica drops its in-memory copy at once.
 */
import { createHash, randomUUID } from 'node:crypto';
import { assertJsonLimits, type JsonLimits } from '../common/json-limits.js';
import { decodeCursor, encodeCursor, PAGE_LIMIT, type Page } from '../common/cursor.js';
import { executableLanguages, ownerOf, requireExecuteScope, type Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';
import type { LanguageRouter } from '../execution/language-router.js';
import type { FunctionStore } from '../functions/function.js';
import type { Logger } from '../observability/logger.js';
import { withSpan } from '../observability/tracing.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { CompileFailure, Language } from '../runtimes/runtime.js';
import { ActivityRecorder } from './activity-recorder.js';
import { canonicalJson } from './canonical-json.js';
import { HotSessions, type HotSession } from './hot-sessions.js';
import type { SessionCache } from './session-cache.js';
import type { InitializeBody as InitializeRequestBody, SessionUpdateBody as SessionUpdateRequestBody } from '../http/api-schemas.js';
import type { SessionListQuery, SessionPage } from '../http/read-schemas.js';
import { assertScript, assertSessionId, parseInitializeBody, parseUpdateBody, scriptOptions } from './session-input.js';
import { sessionView, type SessionView } from './session-view.js';
import type { SessionListFilter, SessionRecord, SessionStore } from './session.js';

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
  readonly maxHotSessions: number;
  readonly onSessionCreated?: (language: Language) => void;
}

export interface InitializeInput {
  readonly languageTitle: string | undefined;
  /** Shaped by the route's schema (http/api-schemas.ts). */
  readonly body: InitializeRequestBody;
  /** The caller; an authenticated one owns the session (others get 404 for it). */
  readonly principal: Principal;
  /** The X-User-ID header (the earlier implementation's): the user when auth is off and the context names none. */
  readonly headerUserId?: string;
}

/** An X-User-ID header as a user id: a token of at most 128 printable characters, else none. */
function headerUserIdOf(value: string | undefined): string | null {
  return value !== undefined && /^[\x21-\x7e]{1,128}$/.test(value) ? value : null;
}

export function scriptHash(language: Language, source: string, compileOptions: unknown): string {
  return createHash('sha256').update(language).update('\0').update(source).update('\0').update(canonicalJson(compileOptions ?? null)).digest('hex');
}

export class SessionService {
  readonly #o: SessionServiceOptions;
  readonly #hot: HotSessions;
  readonly #activity: ActivityRecorder;
  #activeCount = 0;

  constructor(options: SessionServiceOptions) {
    this.#o = options;
    this.#hot = new HotSessions(options.runtimes, options.maxHotSessions);
    this.#activity = new ActivityRecorder({
      logger: options.logger,
      intervalMs: options.activityFlushIntervalMs,
      write: (batch) => options.store.recordActivity(batch),
    });
  }

  /** Listens for other replicas' invalidations: an invalidated session is reloaded on its next use. */
  async start(): Promise<void> {
    await this.#o.cache.onInvalidate((id) => this.#hot.invalidate(id));
  }

  /**
   * Forgets every in-memory copy without touching runtime state: used when invalidations may have
   * been missed (the shared cache was down). Sessions reload from the cache or the database.
   */
  dropAllHot(): void {
    this.#hot.clear();
  }

  /** Active sessions as of the last sweep (for metrics). */
  get activeCount(): number {
    return this.#activeCount;
  }

  async initialize(input: InitializeInput): Promise<{ session: SessionRecord; compileMs: number }> {
    const { language, languageTitle, dialect } = this.#o.router.resolve(input.languageTitle);
    requireExecuteScope(input.principal, language);
    const body = parseInitializeBody(input.body, this.#o.contextLimits);
    const { context, scriptContent } = body;
    let source = scriptContent;
    let functionId: string | null = null;
    // The version it starts on: its params schema and cache flag stay that version's (sessionFunctionVersion).
    let functionVersion: string | undefined;
    let dependencies = body.dependencies;
    if (source === undefined) {
      const fn = await this.#o.functions.get(languageTitle);
      if (!fn || fn.scriptContent === null) {
        throw new ServiceError('NOT_FOUND', `No registered function "${languageTitle}": send "script_content" or register the function first`, {
          language_title: languageTitle,
        });
      }
      source = fn.scriptContent;
      functionId = fn.id;
      functionVersion = fn.version;
      // A registered function's packages, unless the client names its own.
      dependencies ??= fn.dependencies ?? undefined;
    }
    assertScript(source, this.#o.maxScriptSize);
    const compileOptions = scriptOptions(language, dialect === 'typescript', { compileOptions: body.compileOptions, dependencies });

    const runtime = this.#o.runtimes.get(language);
    const hash = scriptHash(language, source, compileOptions);
    const prepared = await withSpan('runtime.prepare', { 'lambda.language': language }, () => runtime.prepare({ scriptHash: hash, source, ...(compileOptions ? { compileOptions } : {}) }));

    const now = new Date();
    const requestId = randomUUID();
    // With auth on the token's subject is the user (X-User-ID is ignored); with auth off,
    // `context.user_id` as the client says, else the X-User-ID header, as the earlier implementation took it.
    const owner = ownerOf(input.principal);
    const userId = owner ?? (typeof context.user_id === 'string' ? context.user_id : input.principal.anonymous ? headerUserIdOf(input.headerUserId) : null);
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
      metadata: { ...(prepared.ok ? { compile_ms: prepared.compileMs } : {}), ...(owner ? { owner } : {}), ...(functionVersion !== undefined ? { function_version: functionVersion } : {}) },
      functionId,
    };
    await this.#persist(record);
    if (!prepared.ok) throw compilationError(requestId, prepared.error);
    this.#o.onSessionCreated?.(language);
    this.#activeCount++;
    this.#hot.add({ record, executionCount: 0, lastExecutedAt: null, ended: false });
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
    let hot = this.#hot.use(id);
    if (!hot) {
      const record = (await this.#o.cache.get(id)) ?? (await this.#load(id));
      if (!record) throw notFound(id);
      hot = { record, executionCount: record.executionCount, lastExecutedAt: record.lastExecutedAt, ended: record.status !== 'active' };
      if (record.status === 'active') this.#hot.add(hot);
    }
    assertAccess(hot.record, principal);
    if (hot.ended || hot.record.status !== 'active') throw notFound(id, hot.record.status === 'error' ? 'failed to compile' : 'ended');
    if (hot.record.expiresAt.getTime() <= Date.now()) {
      this.#hot.forget(id);
      throw notFound(id, 'expired');
    }
    return hot;
  }

  /** A session from the database, put in the shared cache for the next replica that needs it. */
  async #load(id: string): Promise<SessionRecord | undefined> {
    const record = await this.#find(id);
    if (record?.status === 'active') await this.#o.cache.put(record);
    return record;
  }

  /** The stored record; SERVICE_UNAVAILABLE when the database cannot answer. */
  async #find(id: string): Promise<SessionRecord | undefined> {
    try {
      return await this.#o.store.find(id);
    } catch (error) {
      throw this.#lookupFailed(id, error);
    }
  }

  #lookupFailed(id: string, error: unknown): ServiceError {
    this.#o.logger.warn({ err: error }, 'session lookup failed');
    return new ServiceError('SERVICE_UNAVAILABLE', 'The session could not be loaded (database unavailable); try again shortly', { request_id: id });
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
      this.#hot.release(hot);
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
      if (!hot) throw this.#lookupFailed(id, error);
      assertAccess(hot.record, principal);
      return sessionView(hot.record, { executions: hot.executionCount, lastExecutedAt: hot.lastExecutedAt, completed: hot.ended });
    }
    if (!record || record.metadata.deleted === true || record.status === 'expired' || (record.status === 'active' && record.expiresAt.getTime() <= Date.now())) {
      throw notFound(id);
    }
    assertAccess(record, principal);
    return this.#live(record);
  }

  /** The stored record as the API shows it, with this replica's executions not yet written. */
  #live(record: SessionRecord): SessionView {
    const pending = this.#activity.pending(record.requestId);
    if (!pending) return sessionView(record);
    const last = record.lastExecutedAt && record.lastExecutedAt > pending.lastExecutedAt ? record.lastExecutedAt : pending.lastExecutedAt;
    return sessionView(record, { executions: record.executionCount + pending.executions, lastExecutedAt: last, completed: pending.completed });
  }

  /**
   * GET /api/v1/sessions: the caller's sessions, newest first, each as GET shows it. An
   * authenticated caller's are the ones made with their token; an anonymous caller's (auth off)
   * the ones made without a token: exactly those GET shows them, in the languages they may
   * execute. Ended sessions are listed (history); deleted ones are not.
   */
  async list(query: SessionListQuery, principal: Principal): Promise<SessionPage> {
    const after = decodeCursor(query.cursor);
    const filter: SessionListFilter = {
      owner: ownerOf(principal),
      languages: executableLanguages(principal),
      ...(query.language !== undefined ? { language: query.language } : {}),
      ...(query.language_title !== undefined ? { languageTitle: query.language_title } : {}),
      ...(query.status !== undefined ? { status: query.status } : {}),
      ...(after ? { after } : {}),
      limit: query.limit ?? PAGE_LIMIT.default,
      now: new Date(),
    };
    let page: Page<SessionRecord>;
    try {
      page = await this.#o.store.list(filter);
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'session list failed');
      throw new ServiceError('SERVICE_UNAVAILABLE', 'The sessions could not be read (database unavailable); try again shortly');
    }
    return { sessions: page.items.map((record) => this.#live(record)), next_cursor: encodeCursor(page.next) };
  }

  /**
   * A session whose history (its executions) the caller may read: GET's rule of ownership and
   * scope, whatever its status (an ended session's history stays readable) unless deleted. 404 otherwise.
   */
  async readable(requestId: string, principal: Principal): Promise<SessionRecord> {
    const id = assertSessionId(requestId);
    const record = await this.#find(id);
    if (!record || record.metadata.deleted === true) throw notFound(id);
    assertAccess(record, principal);
    return record;
  }

  async update(requestId: string, body: SessionUpdateRequestBody, principal: Principal): Promise<SessionView> {
    const id = assertSessionId(requestId);
    const { expiresAt, context } = parseUpdateBody(body, this.#o.sessionMaxLifetimeSeconds);
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
    assertAccess(record, principal);
    const hot = this.#hot.get(id);
    if (hot) hot.ended = true;
    await this.#o.store.update(id, {
      ...(record.status === 'active' ? { status: 'completed' as const } : {}),
      metadata: { deleted: true, deleted_at: new Date().toISOString() },
    });
    if (record.status === 'active') this.#activeCount = Math.max(0, this.#activeCount - 1);
    this.#hot.forget(id);
    await this.#o.cache.remove(id);
  }

  /** Marks expired sessions, drops them from memory and refreshes the active count. */
  async sweep(now = new Date()): Promise<number> {
    const expired = await this.#o.store.expireDue(now);
    for (const id of expired) this.#hot.forget(id);
    this.#hot.forgetExpired(now);
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
}

/** The version of its registered function a session started on (undefined: none recorded, a session from before versions). */
export function sessionFunctionVersion(record: SessionRecord): string | undefined {
  const version = record.metadata.function_version;
  return typeof version === 'string' ? version : undefined;
}

/**
 * A session made by an authenticated caller belongs to them: anyone else is told it does not exist
 * (404, not 403, so ids cannot be probed). Sessions made without a token have no owner.
 */
function assertOwner(record: SessionRecord, principal: Principal): void {
  const owner = record.metadata.owner;
  if (typeof owner === 'string' && owner !== principal.userId) throw notFound(record.requestId);
}

/** The caller owns the session (see assertOwner) and may execute its language. */
function assertAccess(record: SessionRecord, principal: Principal): void {
  assertOwner(record, principal);
  requireExecuteScope(principal, record.language);
}

function notFound(id: string, why?: string): ServiceError {
  return new ServiceError('NOT_FOUND', why ? `Session ${id} has ${why}` : `No active session ${id}`, { request_id: id });
}

/** Initialize's answer for a script that does not compile (the session is stored, failed, for GET). */
function compilationError(requestId: string, error: CompileFailure): ServiceError {
  const { kind, message, line, column, diagnostics } = error;
  return new ServiceError('COMPILATION_ERROR', `${kind}: ${message}${line ? ` (line ${line}${column ? `, column ${column}` : ''})` : ''}`, {
    request_id: requestId,
    kind,
    line,
    column,
    ...(diagnostics ? { diagnostics } : {}),
  });
}

function formatCompileError(error: CompileFailure): string {
  const where = error.line ? ` at line ${error.line}${error.column ? `, column ${error.column}` : ''}` : '';
  return `${error.kind}: ${error.message}${where}${error.diagnostics ? `\n${error.diagnostics}` : ''}`;
}
