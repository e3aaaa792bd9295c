/**
 * JSON text for a jsonb parameter. PostgreSQL's jsonb cannot hold U+0000 nor a lone UTF-16
 * surrogate, which JSON allows and scripts and clients can send; each becomes U+FFFD so that one
 * such value never makes a row (or a whole batch) unstorable. JSON.stringify writes a well-formed
 * surrogate pair as the character itself, so every \\udXXX escape it writes is a lone one.
 */
export function toJsonb(value: unknown): string | null {
  if (value === undefined) return null;
  // Only an unescaped escape (an even number of backslashes before it) is a character.
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi, '$1\\ufffd');
}

/** Text for a text column: NUL and lone surrogates are refused there too. */
export function toText(value: string | null | undefined): string | null {
  return value == null ? null : value.replaceAll('\u0000', '\ufffd').toWellFormed();
}
