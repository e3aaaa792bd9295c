/**
 * request_logs.endpoint of an execute, as http/audit.ts writes it (method and route pattern). The
 * stats index of migration 9 holds only these rows: its predicate is this literal.
 */
export const EXECUTE_ENDPOINT = 'POST /api/v1/execute/:requestId';

/** One row of public.request_logs, with the public.error_logs row of a failure. */
export interface RequestLogEntry {
  readonly id: string;
  /** The session id (request_id of the contract); null when initialize failed before one existed. */
  readonly requestId: string | null;
  readonly languageTitle: string | null;
  readonly timestamp: Date;
  readonly clientIp: string | null;
  readonly userId: string | null;
  readonly requestHeaders: Record<string, string>;
  readonly requestPayload: unknown;
  readonly responsePayload: unknown;
  readonly statusCode: number;
  readonly durationMs: number;
  readonly cached: boolean;
  readonly errorDetails: unknown;
  readonly runtimeMetrics: unknown;
  readonly endpoint: string;
  readonly correlationId: string | null;
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly stackTrace: string | null;
    readonly context: unknown;
  };
}

export interface RequestLogStore {
  /** Writes the whole batch or nothing (one transaction). */
  writeBatch(batch: readonly RequestLogEntry[]): Promise<void>;
}
