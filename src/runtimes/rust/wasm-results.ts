/** What a WebAssembly call hands back, as the runtime reports it: what it printed, its result, its error. */
import { isPlainObject } from '../../common/plain-object.js';
import { guestScriptError } from '../kit/guest-values.js';
import { boundLogs, type OutputLimits } from '../kit/output-limits.js';
import type { InvocationResult, InvocationStats, ScriptError } from '../runtime.js';

/**
 * What a call prints goes into its worker's SharedArrayBuffer (guest/wasi-worker.js writes it): an Int32
 * header [bytes stored, bytes written, newlines written, 1 if the last byte written was a newline],
 * then the first bytes written. So the host still has it after terminating the worker on a timeout.
 */
const HEADER_BYTES = 16;
const decoder = new TextDecoder('utf-8');

/** A worker's log buffer: room for the bytes kept and every kept line's newline, so that a cut is visible. */
export function newLogBuffer(limits: Pick<OutputLimits, 'maxLogEntries' | 'maxLogBytes'>): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + limits.maxLogBytes + limits.maxLogEntries + 4);
}

/** The last call's output as log lines, bounded as every runtime's are; lines beyond the buffer are counted from the worker's tally. */
export function collectLogs(buffer: SharedArrayBuffer, limits: Pick<OutputLimits, 'maxLogEntries' | 'maxLogBytes'>): readonly string[] {
  const header = new Int32Array(buffer, 0, 4);
  const totalBytes = Atomics.load(header, 1);
  if (totalBytes === 0) return [];
  const stored = Math.min(Atomics.load(header, 0), buffer.byteLength - HEADER_BYTES);
  const complete = stored >= totalBytes;
  const text = decoder.decode(new Uint8Array(buffer, HEADER_BYTES, stored).slice());
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  const endsWithNewline = text.endsWith('\n');
  if (endsWithNewline) lines.pop();
  const total = complete ? lines.length : Math.max(lines.length, Atomics.load(header, 2) + (Atomics.load(header, 3) === 1 ? 0 : 1));
  // A capture that stopped mid-line kept only the start of its last line.
  return boundLogs(lines, limits, { lines: total, lastCut: !complete && !endsWithNewline });
}

/** A ready module's stdout: its result as JSON. */
export function parseResult(text: string, logs: readonly string[], stats: InvocationStats): InvocationResult {
  const invalid = (message: string): InvocationResult => ({ status: 'error', error: { name: 'InvalidResult', message }, logs, stats });
  if (text.trim() === '') return invalid('the module wrote no result on stdout (it must write the result as JSON)');
  try {
    return { status: 'ok', result: JSON.parse(text) as unknown, logs, stats };
  } catch {
    return invalid(`the module's output is not JSON: ${text.slice(0, 200)}`);
  }
}

/** The error JSON of the entry point or the worker (name, message, where), placed in the user's script when it is there. */
export function toScriptError(text: string, userLines: number): ScriptError {
  let parsed: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(text);
    if (isPlainObject(value)) parsed = value;
  } catch {
    parsed = { message: text };
  }
  const { file, line, column } = parsed;
  const name = typeof parsed.name === 'string' ? parsed.name : 'Error';
  const message = typeof parsed.message === 'string' ? parsed.message : '';
  const inScript = file === 'script.rs' && typeof line === 'number' && line <= userLines;
  const where = typeof file === 'string' && typeof line === 'number' ? `${file}:${line}:${typeof column === 'number' ? column : 0}` : undefined;
  return guestScriptError({ name, message, stack: where && `${name}: ${message}\n    at ${where}`, line: inScript ? line : undefined, column: inScript ? column : undefined });
}
