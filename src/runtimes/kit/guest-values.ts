/**
 * What a guest (the Node.js prelude, the Python worker) sends back about a call, read defensively:
 * the guest runs user code in its realm, so nothing it sends is trusted to have the shape it should.
 */
import type { ScriptError } from '../runtime.js';

/** The log lines: strings only, anything else dropped. */
export function guestLogs(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  // Guests send strings only: usually nothing to filter.
  return value.every((line) => typeof line === 'string') ? value : value.filter((line): line is string => typeof line === 'string');
}

/** A script's error: name and message as strings (defaults when absent), position and stack when typed right. */
export function guestScriptError(value: unknown): ScriptError {
  const error = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  return {
    name: typeof error.name === 'string' ? error.name : 'Error',
    message: typeof error.message === 'string' ? error.message : '',
    ...(typeof error.stack === 'string' ? { stack: error.stack } : {}),
    ...(typeof error.line === 'number' ? { line: error.line } : {}),
    ...(typeof error.column === 'number' ? { column: error.column } : {}),
  };
}
