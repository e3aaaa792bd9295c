/**
 * What a guest (the Node.js prelude, the Python worker) sends back about a call, read defensively:
 * the guest runs user code in its realm, so nothing it sends is trusted to have the shape it should.
 */
import type { CompileFailure, ScriptError } from '../runtime.js';

/** The log lines: strings only, anything else dropped. */
export function guestLogs(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  // Guests send strings only: usually nothing to filter.
  return value.every((line) => typeof line === 'string') ? value : value.filter((line): line is string => typeof line === 'string');
}

type Fields = Record<string, unknown>;
const fieldsOf = (value: unknown): Fields => (typeof value === 'object' && value !== null ? (value as Fields) : {});
const text = (fields: Fields, key: string): { [key: string]: string } => (typeof fields[key] === 'string' ? { [key]: fields[key] } : {});
const position = (fields: Fields): { line?: number; column?: number } => ({
  ...(typeof fields.line === 'number' ? { line: fields.line } : {}),
  ...(typeof fields.column === 'number' ? { column: fields.column } : {}),
});

/** A script's error: name and message as strings (defaults when absent), position and stack when typed right. */
export function guestScriptError(value: unknown): ScriptError {
  const error = fieldsOf(value);
  return { name: 'Error', message: '', ...text(error, 'name'), ...text(error, 'message'), ...text(error, 'stack'), ...position(error) };
}

/** Why a script does not compile, as the guest's compiler said: kind and message (defaults when absent), position and diagnostics when typed right. */
export function guestCompileFailure(value: unknown): CompileFailure {
  const error = fieldsOf(value);
  return { kind: 'SyntaxError', message: 'the script does not compile', ...text(error, 'kind'), ...text(error, 'message'), ...position(error), ...text(error, 'diagnostics') };
}
