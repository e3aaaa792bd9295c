/**
 * What every runtime's execute path needs alike: the answer for a script it does not hold, the
 * event in the JSON form the guest receives, durations rounded to the microsecond.
 */
import { ServiceError } from '../../errors/service-error.js';
import type { ExecuteRequest, InvocationResult } from '../runtime.js';

/** The runtime does not hold the script (restart, eviction, another replica): the caller prepares it again. */
export const NOT_PREPARED: InvocationResult = Object.freeze({ status: 'not_prepared', logs: Object.freeze([]), stats: Object.freeze({ durationMs: 0 }) });

/** The event of a call as JSON (as it came, if it came so); one that has no JSON form is a fault of the caller, not of the script. */
export function eventJson(request: Pick<ExecuteRequest, 'event' | 'eventJson'>): string {
  if (request.eventJson !== undefined) return request.eventJson;
  try {
    return JSON.stringify(request.event);
  } catch (error) {
    throw new ServiceError('INTERNAL_ERROR', `event is not JSON-serialisable: ${errorMessage(error)}`);
  }
}

/** Milliseconds to three decimals (microseconds), as durations are reported. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
