/** A session as the API shows it: the stored record, with what this replica counted but has not written yet. */
import type { Static } from '@sinclair/typebox';
import type { SessionView as SessionViewSchema } from '../http/api-schemas.js';
import type { SessionRecord, SessionStatus } from './session.js';

/** GET /api/v1/sessions/{id}, as its route's schema says. */
export type SessionView = Static<typeof SessionViewSchema>;

/** Counters newer than the record's: this replica's executions not yet written. */
export interface LiveCounters {
  readonly executions: number;
  readonly lastExecutedAt: Date | null;
  readonly completed: boolean;
}

export function sessionView(record: SessionRecord, live?: LiveCounters): SessionView {
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
