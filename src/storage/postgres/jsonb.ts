/**
 * JSON text for a jsonb parameter. PostgreSQL's jsonb cannot hold U+0000, which JSON allows and
 * scripts can print; it becomes U+FFFD so that one such value never makes a whole batch unstorable.
 */
export function toJsonb(value: unknown): string | null {
  if (value === undefined) return null;
  // Only an unescaped \u0000 (an even number of backslashes before it) is a NUL character.
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}

/** Text for a text column: NUL is refused there too. */
export function toText(value: string | null | undefined): string | null {
  return value == null ? null : value.replaceAll('\u0000', '\ufffd');
}
