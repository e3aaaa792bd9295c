/** The SQL side of keyset paging (src/common/cursor.ts). */
import type { PageKey } from '../../common/cursor.js';

/** A timestamptz column as PageKey.at (UTC, microseconds), whatever the connection's TimeZone and DateStyle. */
export function keyTime(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * `(time, id) < (key)` for a newest-first list ordered by `time DESC, id DESC`: an index range
 * condition when the index is (…, time DESC, id DESC). `arg` binds a parameter and names it.
 */
export function afterKey(timeColumn: string, idColumn: string, key: PageKey, arg: (value: unknown) => string): string {
  return `(${timeColumn}, ${idColumn}) < (${arg(key.at)}::timestamptz, ${arg(key.id)}::uuid)`;
}

/** Numbered parameters for a query put together from optional parts. */
export function parameters(): { readonly values: unknown[]; readonly arg: (value: unknown) => string } {
  const values: unknown[] = [];
  const arg = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  return { values, arg };
}
