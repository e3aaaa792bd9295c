/**
 * What one invocation may hand back, enforced by the host on whatever the guest sent. Every guest
 * bounds its own output too (the Node.js bootstrap, the Python worker, the WASI host), but a guest
 * is the untrusted side: a Python script can rewrite its worker's limits in its own process, and a
 * runtime process is one sandbox escape away from sending anything. So each boundary a result
 * crosses towards the service (worker to runtime, runtime process to service, runtime server to
 * service) passes it through `boundOutput`:
 * - a result whose JSON is over `maxResultBytes` becomes `output_limit`; one nested deeper than
 *   MAX_RESULT_DEPTH is an error (the host's own serialisers would overflow their stacks on it:
 *   a result 5,000 arrays deep was a 500 INTERNAL_ERROR);
 * - logs keep at most `maxLogEntries` lines and `maxLogBytes` UTF-8 bytes; what is cut is said in
 *   one marker line, as the guests say it (a guest's own marker line is kept as the one extra line);
 * - error names, messages and stacks, and limit messages, are cut to fixed sizes.
 * Output a guest already bounded passes unchanged.
 */
import type { InvocationResult, ScriptError } from '../runtime.js';

export interface OutputLimits {
  readonly maxLogEntries: number;
  readonly maxLogBytes: number;
  readonly maxResultBytes: number;
}

/** Levels of arrays and objects a result may have. */
export const MAX_RESULT_DEPTH = 1000;

/** What the guests' error descriptions are cut to (the Node.js bootstrap's sizes). */
export const MAX_ERROR_NAME_CHARS = 200;
export const MAX_ERROR_MESSAGE_CHARS = 8192;
export const MAX_ERROR_STACK_CHARS = 16_384;
/** A guest's own truncation marker is kept only if it is this short. */
const MAX_MARKER_BYTES = 512;
const MARKER_PREFIX = '[logs truncated: ';

/** The marker line every runtime appends when it dropped or cut log lines. */
export function truncationMarker(dropped: number, limits: Pick<OutputLimits, 'maxLogEntries' | 'maxLogBytes'>): string {
  const what = dropped > 0 ? `${dropped} more log entr${dropped === 1 ? 'y' : 'ies'} dropped` : 'last entry cut';
  return `${MARKER_PREFIX}${what}; limits are ${limits.maxLogEntries} entries and ${limits.maxLogBytes} bytes per invocation]`;
}

/** `text` cut to at most `limit` UTF-8 bytes, never inside a character. */
export function utf8Truncate(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let end = limit;
  // Step back over continuation bytes (10xxxxxx) so that no character is split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}...`;
}

/**
 * Logs within the limits; the same array when it already was. `capture` is for logs known only in
 * part (a guest's fixed buffer): how many lines there were in all, and whether the last one held
 * stopped mid-line.
 */
export function boundLogs(logs: readonly unknown[], limits: Pick<OutputLimits, 'maxLogEntries' | 'maxLogBytes'>, capture?: { readonly lines: number; readonly lastCut: boolean }): readonly string[] {
  const kept: string[] = [];
  let bytes = 0;
  let truncated = false;
  let index = 0;
  for (; index < logs.length && kept.length < limits.maxLogEntries && bytes < limits.maxLogBytes; index++) {
    const line = logs[index];
    if (typeof line !== 'string') {
      truncated = true;
      continue;
    }
    const size = Buffer.byteLength(line, 'utf8');
    if (bytes + size > limits.maxLogBytes) {
      kept.push(utf8Truncate(line, limits.maxLogBytes - bytes));
      truncated = true;
      index++;
      break;
    }
    bytes += size;
    kept.push(line);
  }
  if (capture?.lastCut && index === logs.length) truncated = true;
  const rest = (capture?.lines ?? logs.length) - index;
  if (!truncated && rest === 0) return logs as readonly string[];
  // The guest's own marker, right after the lines it kept, says what it dropped: keep it.
  const next = logs[index];
  if (!truncated && rest === 1 && typeof next === 'string' && next.startsWith(MARKER_PREFIX) && Buffer.byteLength(next, 'utf8') <= MAX_MARKER_BYTES) {
    return logs as readonly string[];
  }
  kept.push(truncationMarker(rest, limits));
  return kept;
}

function boundError(error: ScriptError): ScriptError {
  const name = typeof error.name === 'string' ? cut(error.name, MAX_ERROR_NAME_CHARS) : 'Error';
  const message = typeof error.message === 'string' ? cut(error.message, MAX_ERROR_MESSAGE_CHARS) : '';
  const stack = typeof error.stack === 'string' ? cut(error.stack, MAX_ERROR_STACK_CHARS) : undefined;
  const line = Number.isSafeInteger(error.line) ? error.line : undefined;
  const column = Number.isSafeInteger(error.column) ? error.column : undefined;
  if (name === error.name && message === error.message && stack === error.stack && line === error.line && column === error.column) return error;
  return { name, message, ...(stack !== undefined ? { stack } : {}), ...(line !== undefined ? { line } : {}), ...(column !== undefined ? { column } : {}) };
}

/** Whether `value` nests deeper than `limit` (walked iteratively: a deep value cannot overflow the stack here). */
function deeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: Array<{ value: object; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: object; depth: number };
    if (depth > limit) return true;
    for (const child of Object.values(current)) if (child !== null && typeof child === 'object') stack.push({ value: child as object, depth: depth + 1 });
  }
  return false;
}

/** An ok result nested deeper than MAX_RESULT_DEPTH as the script's error; any other result as it is. Check this before serialising a result. */
export function boundResultDepth(result: InvocationResult): InvocationResult {
  if (result.status !== 'ok' || !deeperThan(result.result, MAX_RESULT_DEPTH)) return result;
  return { status: 'error', error: { name: 'InvalidResult', message: `the result is nested deeper than ${MAX_RESULT_DEPTH} levels of arrays and objects` }, logs: result.logs, stats: result.stats };
}

/**
 * `result` within `limits`. `resultBytes` is the size of the result's JSON as it arrived (the
 * caller knows it from the wire); without it the result is measured here when it could be over.
 */
export function boundOutput(given: InvocationResult, limits: OutputLimits, resultBytes?: number): InvocationResult {
  const result = boundResultDepth(given);
  const logs = boundLogs(result.logs, limits);
  switch (result.status) {
    case 'ok': {
      const bytes = resultBytes ?? Buffer.byteLength(JSON.stringify(result.result) ?? 'null', 'utf8');
      if (bytes > limits.maxResultBytes) {
        return {
          status: 'output_limit',
          limitBytes: limits.maxResultBytes,
          message: `result is ${bytes} bytes of JSON, over the limit of ${limits.maxResultBytes} bytes`,
          logs,
          stats: result.stats,
        };
      }

      return logs === result.logs ? result : { ...result, logs };
    }
    case 'error': {
      const error = boundError(result.error);
      return logs === result.logs && error === result.error ? result : { ...result, error, logs };
    }
    case 'memory_limit':
    case 'output_limit': {
      const message = cut(result.message, MAX_ERROR_MESSAGE_CHARS);
      return logs === result.logs && message === result.message ? result : { ...result, message, logs };
    }
    default:
      return logs === result.logs ? result : { ...result, logs };
  }
}
