/**
 * How lmctl shows an execute's answer and any failure: the result on stdout, then logs and timing
 * on stderr; an error as one line on stderr (`lmctl: CODE: message`), with the script's line and
 * a caret when the service names a position, and its logs; with --json, one object on stdout too.
 */
import { LambdaApiError, LambdaNetworkError, type ExecuteReply } from '@lambda-microservice/client';

import { exitCodeOf, UsageError } from './exit-codes.js';
import type { Output } from './output.js';
import { sourceFrame } from './source-frame.js';

/** The script an error may point into. */
export interface SourceText {
  readonly path: string;
  readonly text: string | undefined;
}

export interface Timing {
  readonly initialize_ms?: number;
  readonly execute_ms: number;
}

const MAX_DIAGNOSTIC_LINES = 40;

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** An execute's answer: the result (JSON) on stdout, its logs and timing on stderr; or all of it as one JSON object. */
export function printExecution(out: Output, reply: ExecuteReply, timing: Timing): void {
  if (out.json) {
    out.printJson({ ...reply, timing: { ...(timing.initialize_ms !== undefined ? { initialize_ms: round(timing.initialize_ms) } : {}), execute_ms: round(timing.execute_ms) } });
    return;
  }
  out.printJson(reply.result);
  printLogs(out, reply.logs);
  const parts = [
    reply.language_title,
    `session ${reply.request_id}`,
    ...(timing.initialize_ms !== undefined ? [`initialize ${round(timing.initialize_ms)} ms`] : []),
    `execute ${round(reply.execution_time_ms)} ms (${round(timing.execute_ms)} ms round trip)`,
    ...(reply.cached ? ['cached'] : []),
    ...(typeof reply.memory_usage_bytes === 'number' ? [`${(reply.memory_usage_bytes / 1048576).toFixed(1)} MiB`] : []),
  ];
  out.note(out.err.dim(parts.join(' · ')));
}

function printLogs(out: Output, logs: unknown): void {
  if (!Array.isArray(logs)) return;
  for (const entry of logs) out.note(`${out.err.dim('│')} ${String(entry).replace(/\n$/, '')}`);
}

/** Reports `error` and answers the exit code it means. */
export function reportError(out: Output, error: unknown, script?: SourceText): number {
  const code = exitCodeOf(error);
  if (error instanceof LambdaApiError) {
    if (out.json) {
      out.printJson({ error: { code: error.code, message: error.message, details: error.details }, status: error.status, request_id: error.sessionId ?? null, x_request_id: error.requestId ?? null });
    }
    out.note(`${out.err.red('lmctl:')} ${out.err.bold(error.code)}: ${error.message}`);
    if (!out.json) explain(out, error, script);
    return code;
  }
  const message =
    error instanceof LambdaNetworkError
      ? `${error.message}: is the service running there? (--url or LAMBDA_URL)`
      : error instanceof UsageError
        ? error.message
        : `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  if (out.json) out.printJson({ error: { code: error instanceof LambdaNetworkError ? 'UNREACHABLE' : error instanceof UsageError ? 'USAGE' : 'CLI_ERROR', message } });
  out.note(`${out.err.red('lmctl:')} ${message}`);
  return code;
}

/** What the details add for a person: where in the script, the compiler's words, what it printed. */
function explain(out: Output, error: LambdaApiError, script: SourceText | undefined): void {
  const { line, column, diagnostics, logs, kind } = error.details;
  const framed = typeof line === 'number' && script?.text !== undefined;
  if (typeof line === 'number' && script) {
    const col = typeof column === 'number' ? column : undefined;
    out.note(out.err.cyan(`  --> ${script.path}:${line}${col !== undefined ? `:${col}` : ''}`));
    for (const frameLine of script.text !== undefined ? sourceFrame(script.text, line, col) : []) {
      out.note(frameLine.startsWith('>') ? frameLine : out.err.dim(frameLine.replace(/\^$/, '')) + (frameLine.endsWith('^') ? out.err.red('^') : ''));
    }
  }
  // V8's and CPython's diagnostics only repeat the frame; rustc's say more (expected and found types, notes).
  if (typeof diagnostics === 'string' && diagnostics.trim() !== '' && (!framed || kind === 'rustc')) {
    const lines = diagnostics.trimEnd().split('\n');
    for (const text of lines.slice(0, MAX_DIAGNOSTIC_LINES)) out.note(out.err.dim(text));
    if (lines.length > MAX_DIAGNOSTIC_LINES) out.note(out.err.dim(`… ${lines.length - MAX_DIAGNOSTIC_LINES} more lines (--json shows them all)`));
  }
  printLogs(out, logs);
}
