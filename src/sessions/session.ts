import type { Page, PageKey } from '../common/cursor.js';
import type { Language } from '../runtimes/runtime.js';

export type SessionStatus = 'active' | 'expired' | 'completed' | 'error';
export type CompileStatus = 'compiled' | 'failed';

/** A session as stored in meta.sessions. */
export interface SessionRecord {
  readonly requestId: string;
  readonly languageTitle: string;
  readonly language: Language;
  readonly userId: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly lastExecutedAt: Date | null;
  readonly executionCount: number;
  readonly status: SessionStatus;
  readonly context: Readonly<Record<string, unknown>>;
  readonly scriptContent: string;
  readonly scriptHash: string;
  readonly compiledArtifact: Uint8Array | null;
  readonly compileOptions: Readonly<Record<string, unknown>> | null;
  readonly compileStatus: CompileStatus;
  readonly compileError: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Set when the session runs a registered function's own script: its params schema applies. */
  readonly functionId: string | null;
}

export interface SessionPatch {
  readonly expiresAt?: Date;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly status?: SessionStatus;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** Executions counted in memory and written to the store in batches. */
export interface SessionActivity {
  readonly requestId: string;
  readonly executions: number;
  readonly lastExecutedAt: Date;
  /** The session ended with this activity (retain_session: false). */
  readonly completed: boolean;
}

/** GET /api/v1/sessions: which sessions, newest first. Deleted sessions are never listed. */
export interface SessionListFilter {
  /** A user's own sessions (made with their token); null: the sessions made without a token. */
  readonly owner: string | null;
  /** The languages the caller may see; undefined: every one. */
  readonly languages: readonly Language[] | undefined;
  readonly language?: Language;
  readonly languageTitle?: string;
  /** As GET shows it: an active session past its expiry is `expired`. */
  readonly status?: SessionStatus;
  readonly after?: PageKey;
  readonly limit: number;
  readonly now: Date;
}

export interface SessionStore {
  insert(session: SessionRecord): Promise<void>;
  find(requestId: string): Promise<SessionRecord | undefined>;
  /** Applies a patch; returns the new record, or undefined if there is no such session. */
  update(requestId: string, patch: SessionPatch): Promise<SessionRecord | undefined>;
  recordActivity(batch: readonly SessionActivity[]): Promise<void>;
  /** Marks active sessions past their expiry as expired; returns their ids. */
  expireDue(now: Date): Promise<string[]>;
  countActive(now: Date): Promise<number>;
  /** A page of sessions, newest first, without their scripts and compiled artifacts. */
  list(filter: SessionListFilter): Promise<Page<SessionRecord>>;
}
