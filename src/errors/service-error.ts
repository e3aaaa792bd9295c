/**
 * One error type for every fault the service reports, with the contract's string codes
 * (section 4), and the one table that maps a code to its HTTP status.
 */

export const ERROR_STATUS = {
  INVALID_REQUEST: 400,
  INVALID_PARAMS: 400,
  COMPILATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  RUNTIME_ERROR: 500,
  INTERNAL_ERROR: 500,
  RUNTIME_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorEnvelope {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  /** Overrides the code's usual status where the contract allows another (e.g. 413 for a body too large). */
  readonly status: number;
  /** The session an execute error belongs to: the reply carries it beside the envelope. */
  requestId: string | undefined;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, status?: number) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
    this.details = details;
    this.status = status ?? ERROR_STATUS[code];
  }

  withRequestId(requestId: string): this {
    this.requestId = requestId;
    return this;
  }

  toEnvelope(): ErrorEnvelope & { request_id?: string } {
    const envelope = { error: { code: this.code, message: this.message, details: this.details } };
    return this.requestId === undefined ? envelope : { request_id: this.requestId, ...envelope };
  }
}

export function isServiceError(value: unknown): value is ServiceError {
  return value instanceof ServiceError;
}
