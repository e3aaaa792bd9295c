/**
 * Keyset paging for the read APIs: a page is the rows strictly after the last one the previous
 * page answered, in the list's order (newest first). The cursor is that row's sort key, opaque to
 * clients: its time to the microsecond (as PostgreSQL keeps it, so rows of one millisecond are
 * neither skipped nor repeated) and its id (the tie-breaker). Rows written later never shift a
 * page, as an offset would.
 */
import { ServiceError } from '../errors/service-error.js';

/** A row's place in a newest-first list: `at` is UTC with microseconds, `2026-12-01T10:00:00.123456Z`. */
export interface PageKey {
  readonly at: string;
  readonly id: string;
}

/** One page: the rows, and the key to continue after (undefined: this was the last page). */
export interface Page<T> {
  readonly items: T[];
  readonly next: PageKey | undefined;
}

const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeCursor(key: PageKey | undefined): string | null {
  return key ? Buffer.from(JSON.stringify([key.at, key.id])).toString('base64url') : null;
}

/** The key a `cursor` query parameter carries; undefined for the first page. 400 for one this API did not answer. */
export function decodeCursor(cursor: string | undefined): PageKey | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw badCursor();
  const [at, id] = parsed as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || !AT.test(at) || !ID.test(id) || Number.isNaN(Date.parse(at))) throw badCursor();
  return { at, id };
}

function badCursor(): ServiceError {
  return new ServiceError('INVALID_REQUEST', 'query parameter "cursor" is not one this API answered: pass next_cursor as it came', { field: 'cursor' });
}

/** Rows a page holds unless `limit` says otherwise, and at most. */
export const PAGE_LIMIT = { default: 20, max: 100 } as const;

/** `rows` fetched with one row more than `limit`: the page, and the key after it when there is more. */
export function pageOf<T>(rows: readonly T[], limit: number, keyOf: (row: T) => PageKey): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last !== undefined ? keyOf(last) : undefined };
}
