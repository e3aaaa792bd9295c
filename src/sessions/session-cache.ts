/**
 * Hot sessions in the shared cache (Redis, or the in-process default), so that an execute on a
 * session this replica has not seen needs no PostgreSQL read, and one invalidation channel that
 * makes every replica drop its in-memory copy at once after PATCH, DELETE or completion.
 */
import type { SharedCache } from '../cache/shared-cache.js';
import type { Language } from '../runtimes/runtime.js';
import type { CompileStatus, SessionRecord, SessionStatus } from './session.js';

export const SESSION_INVALIDATION_CHANNEL = 'session-invalidate';

interface StoredSession {
  requestId: string;
  languageTitle: string;
  language: Language;
  userId: string | null;
  createdAt: string;
  expiresAt: string;
  lastExecutedAt: string | null;
  executionCount: number;
  status: SessionStatus;
  context: Record<string, unknown>;
  scriptContent: string;
  scriptHash: string;
  compileOptions: Record<string, unknown> | null;
  compileStatus: CompileStatus;
  compileError: string | null;
  metadata: Record<string, unknown>;
  functionId: string | null;
}

function key(requestId: string): string {
  return `session:${requestId}`;
}

export class SessionCache {
  readonly #cache: SharedCache;

  constructor(cache: SharedCache) {
    this.#cache = cache;
  }

  /** Kept until the session expires; the compiled artifact stays out (runtimes cache their own). */
  async put(record: SessionRecord): Promise<void> {
    const ttl = Math.ceil((record.expiresAt.getTime() - Date.now()) / 1000);
    if (ttl <= 0) return;
    const { compiledArtifact: _artifact, ...rest } = record;
    const stored: StoredSession = {
      ...rest,
      context: { ...record.context },
      compileOptions: record.compileOptions ? { ...record.compileOptions } : null,
      metadata: { ...record.metadata },
      createdAt: record.createdAt.toISOString(),
      expiresAt: record.expiresAt.toISOString(),
      lastExecutedAt: record.lastExecutedAt?.toISOString() ?? null,
    };
    await this.#cache.set(key(record.requestId), JSON.stringify(stored), ttl);
  }

  async get(requestId: string): Promise<SessionRecord | undefined> {
    const text = await this.#cache.get(key(requestId));
    if (text === undefined) return undefined;
    try {
      const s = JSON.parse(text) as StoredSession;
      return {
        ...s,
        createdAt: new Date(s.createdAt),
        expiresAt: new Date(s.expiresAt),
        lastExecutedAt: s.lastExecutedAt ? new Date(s.lastExecutedAt) : null,
        compiledArtifact: null,
      };
    } catch {
      return undefined;
    }
  }

  /** Stores the changed session and tells every replica to drop its in-memory copy. */
  async replace(record: SessionRecord): Promise<void> {
    await this.put(record);
    await this.#cache.publish(SESSION_INVALIDATION_CHANNEL, record.requestId);
  }

  /** Drops the cached copy and tells every replica to drop its in-memory one. */
  async remove(requestId: string): Promise<void> {
    await this.#cache.del(key(requestId));
    await this.#cache.publish(SESSION_INVALIDATION_CHANNEL, requestId);
  }

  async onInvalidate(handler: (requestId: string) => void): Promise<void> {
    await this.#cache.subscribe(SESSION_INVALIDATION_CHANNEL, handler);
  }
}
