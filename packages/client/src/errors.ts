import type { ErrorCode, ErrorEnvelope } from './types.js';

/** The code of an error answer whose body is not the service's envelope (a proxy's 502 page, say). */
export const NON_ENVELOPE_CODE = 'HTTP_ERROR';

/** An error answer of the service, read from the contract's envelope `{ error: { code, message, details } }`. */
export class LambdaApiError extends Error {
  override readonly name = 'LambdaApiError';
  /** The HTTP status. */
  readonly status: number;
  /** The contract's code (`RUNTIME_ERROR`, `NOT_FOUND`, ...), or `HTTP_ERROR` when the body was no envelope. */
  readonly code: ErrorCode | typeof NON_ENVELOPE_CODE;
  /** What the code needs: the violations, a compile error's `line`/`column`/`diagnostics`, a script's `logs`, ... */
  readonly details: Readonly<Record<string, unknown>>;
  /** The request's id as the service answered it (X-Request-ID): it names the request in the service's logs. */
  readonly requestId: string | undefined;
  /** The session's id (the envelope's `request_id`), on execute errors. */
  readonly sessionId: string | undefined;
  /** Seconds the service asked to wait before trying again (Retry-After), on 429 and 503. */
  readonly retryAfterSeconds: number | undefined;

  constructor(init: {
    status: number;
    code: LambdaApiError['code'];
    message: string;
    details?: Record<string, unknown>;
    requestId?: string | undefined;
    sessionId?: string | undefined;
    retryAfterSeconds?: number | undefined;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? {};
    this.requestId = init.requestId;
    this.sessionId = init.sessionId;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /** The error a response stands for; `body` is its parsed JSON (or its text when it was not JSON). */
  static fromResponse(response: Response, body: unknown): LambdaApiError {
    const common = { status: response.status, requestId: response.headers.get('x-request-id') ?? undefined, retryAfterSeconds: retryAfterSeconds(response.headers) };
    if (isEnvelope(body)) {
      const { code, message, details } = body.error;
      return new LambdaApiError({ ...common, code, message, details: details ?? {}, sessionId: body.request_id });
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body ?? null);
    return new LambdaApiError({ ...common, code: NON_ENVELOPE_CODE, message: `HTTP ${response.status} ${response.statusText}`.trim(), details: { body: text.slice(0, 1000) } });
  }
}

/** The service could not be reached, or the connection broke before an answer came. */
export class LambdaNetworkError extends Error {
  override readonly name = 'LambdaNetworkError';
  /** The URL asked for. */
  readonly url: string;
  /** The system error code when there is one (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, ...). */
  readonly errno: string | undefined;

  constructor(url: string, cause: unknown) {
    const { errno, reason } = rootCause(cause);
    super(`cannot reach ${url} (${reason})`, { cause });
    this.url = url;
    this.errno = errno;
  }
}

function isEnvelope(body: unknown): body is ErrorEnvelope {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error: unknown = body.error;
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && 'message' in error && typeof error.message === 'string';
}

/**
 * What went wrong underneath: Node's fetch wraps it, `TypeError('fetch failed', { cause })`, the
 * cause being a system error (`code: 'ECONNREFUSED'`) or undici's own (`bad port`, a timeout).
 */
function rootCause(error: unknown): { errno: string | undefined; reason: string } {
  let innermost = error;
  for (let depth = 0; depth < 5; depth++) {
    const code = (innermost as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { errno: code, reason: code };
    const next = (innermost as { cause?: unknown } | null)?.cause;
    if (next === undefined || next === null) break;
    innermost = next;
  }
  return { errno: undefined, reason: innermost instanceof Error ? innermost.message : String(innermost) };
}

/** Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3); undefined when absent or unreadable. */
export function retryAfterSeconds(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
