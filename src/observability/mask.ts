/**
 * Masking of sensitive values before anything is logged or stored in request_logs: credentials
 * in headers, and context/params keys that look like secrets (password, token, api key, ...).
 */

export const MASK = '[masked]';

const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token']);
const SENSITIVE_KEY = /pass(word)?|secret|token|api[-_]?key|private[-_]?key|credential|authori[sz]ation|cookie|session[-_]?key/i;

export function maskHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    out[lower] = SENSITIVE_HEADERS.has(lower) || SENSITIVE_KEY.test(lower) ? MASK : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** A copy of `value` with sensitive keys masked and long strings cut, at most `maxDepth` deep. */
export function maskValue(value: unknown, maxString = 4096, maxDepth = 16): unknown {
  if (typeof value === 'string') return value.length > maxString ? `${value.slice(0, maxString)}…[${value.length - maxString} more chars]` : value;
  if (value === null || typeof value !== 'object') return value;
  if (maxDepth <= 0) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => maskValue(v, maxString, maxDepth - 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    out[key] = SENSITIVE_KEY.test(key) ? MASK : maskValue(v, maxString, maxDepth - 1);
  }
  return out;
}

/** Masks a free-text message, e.g. an error message that echoes a bearer token. */
export function maskText(text: string): string {
  return text.replace(/(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${MASK}`);
}
