/**
 * V8's compile errors (as isolated-vm reports them) turned into the contract's CompileFailure: the
 * user's line and column, the line itself and a caret. Pure: no V8 here.
 */
import { errorMessage } from '../kit/invocation.js';
import type { CompileFailure } from '../runtime.js';
import { USER_FILE } from './source-forms.js';

export interface V8CompileError {
  readonly name: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** Splits V8's "Unexpected token ';' [script.js:3:9]" (isolated-vm's format) into its parts. */
export function parseCompileError(error: unknown): V8CompileError {
  const name = error instanceof Error ? error.name : 'SyntaxError';
  const raw = errorMessage(error);
  const match = /\s*\[script\.js:(\d+):(\d+)\]\s*$/.exec(raw);
  if (!match) return { name, message: raw };
  return { name, message: raw.slice(0, match.index), line: Number(match[1]), column: Number(match[2]) };
}

export function describeCompileFailure(error: V8CompileError, sourceLines: readonly string[]): CompileFailure {
  if (error.line === undefined || error.column === undefined) {
    return { kind: error.name, message: error.message, diagnostics: `${error.name}: ${error.message}` };
  }
  const line = Math.min(Math.max(1, error.line), sourceLines.length);
  const column = Math.max(1, error.column);
  const text = sourceLines[line - 1] ?? '';
  const caret = `${text.slice(0, column - 1).replace(/[^\t]/g, ' ')}^`;
  return {
    kind: error.name,
    message: error.message,
    line,
    column,
    diagnostics: `${USER_FILE}:${line}:${column}\n${text}\n${caret}\n\n${error.name}: ${error.message}`,
  };
}

export function lastClosingBrace(sourceLines: readonly string[]): { line: number; column: number } {
  for (let i = sourceLines.length - 1; i >= 0; i--) {
    const index = sourceLines[i]?.lastIndexOf('}') ?? -1;
    if (index !== -1) return { line: i + 1, column: index + 1 };
  }
  return { line: sourceLines.length, column: 1 };
}
