/** JSON as the console shows and reads it. */

/** Pretty JSON text of a value (`undefined` for a value JSON cannot hold). */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'undefined';
}

export type ParsedJson = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string; readonly offset: number | undefined };

/** Parses JSON text; an empty text is `fallback`. A failure says where (offset into the text) when the engine tells. */
export function parseJson(text: string, fallback: unknown = undefined): ParsedJson {
  if (text.trim() === '') return { ok: true, value: fallback };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /at position (\d+)/.exec(message);
    return { ok: false, message, offset: position ? Number(position[1]) : undefined };
  }
}

/** A line and column (1-based) of an offset into a text. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

export { isPlainObject } from '../../src/common/plain-object';
