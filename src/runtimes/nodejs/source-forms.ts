/**
 * The two forms a Node.js script can take, the wrapper each is compiled in, and V8's compile errors
 * (as isolated-vm reports them) put back in the user's coordinates. Pure: no V8 here.
 */
import { errorMessage } from '../kit/invocation.js';
import type { CompileFailure, ScriptError } from '../runtime.js';

/** The file name V8 reports in stacks and compile errors. */
export const USER_FILE = 'script.js';

/*
 * A script that assigns `module.exports` (or a property of it) or a property of `exports` is a
 * CommonJS module exporting the handler, anything else the body of an async function `(event,
 * params, context)`. The test reads the code outside comments and string literals (a comment
 * saying "or module.exports = ..." is no assignment); it is textual beyond that (a regular
 * expression literal holding a quote can hide the rest of its line), and linear in the script's size.
 */
export type ScriptForm = 'body' | 'module';
const MODULE_FORM = /(?:^|[^.\w$])(?:module\s*\.\s*exports|exports)\s*(?:\.\s*[A-Za-z_$][\w$]*\s*|\[[^\]\n]*\]\s*)*=(?!=)/m;

export function detectForm(source: string): ScriptForm {
  // Most bodies never name exports: no need to read them closer.
  if (!source.includes('exports')) return 'body';
  return MODULE_FORM.test(codeOutsideCommentsAndStrings(source)) ? 'module' : 'body';
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const SLASH = 0x2f;
const STAR = 0x2a;
const BACKSLASH = 0x5c;
const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const BACKTICK = 0x60;
/** How many UTF-16 units String.fromCharCode is given at once. */
const CHUNK = 8192;

/**
 * `source` with comments and string literals (quotes included) made spaces, newlines kept. One
 * pass over the UTF-16 units, without a string or a regular expression per token: it runs on the
 * service thread for bundled scripts, and a script of a million quotes is a million tokens.
 */
export function codeOutsideCommentsAndStrings(source: string): string {
  const n = source.length;
  const out = new Uint16Array(n);
  let i = 0;
  while (i < n) {
    const c = source.charCodeAt(i);
    const next = source.charCodeAt(i + 1);
    let end: number;
    if (c === SLASH && next === SLASH) {
      end = source.indexOf('\n', i);
      if (end === -1) end = n;
    } else if (c === SLASH && next === STAR) {
      end = source.indexOf('*/', i + 2);
      end = end === -1 ? n : end + 2;
    } else if (c === QUOTE || c === DOUBLE_QUOTE || c === BACKTICK) {
      // A quote or a newline ends a '…' or "…" (an unterminated one is the compiler's to report); only the backtick ends `…`.
      end = i + 1;
      while (end < n) {
        const d = source.charCodeAt(end);
        if (d === c || (d === NEWLINE && c !== BACKTICK)) break;
        end += d === BACKSLASH ? 2 : 1;
      }
      end = Math.min(end + 1, n);
    } else {
      out[i++] = c;
      continue;
    }
    for (; i < end; i++) out[i] = source.charCodeAt(i) === NEWLINE ? NEWLINE : SPACE;
  }
  const parts: string[] = [];
  // apply takes the typed array as it is; a spread copies it into arguments first (5× slower here).
  for (let k = 0; k < n; k += CHUNK) parts.push(String.fromCharCode.apply(null, out.subarray(k, k + CHUNK) as unknown as number[]));
  return parts.join('');
}

/*
 * The wrapper's opening has a line of its own and scripts compile with lineOffset -1: V8 reports
 * the user's own lines and columns. A script closing the wrapper early (`}); code; (function () {`)
 * only runs its own code at its context's top level, in the sandbox and under the call's timeout,
 * and the guest refuses a completion value not the wrapper function.
 */
function unclosedFunction(form: ScriptForm, name: string, source: string): string {
  const parameters = form === 'body' ? '(event, params, context, require)' : '(exports, require, module, __filename, __dirname)';
  // A shebang is legal at the top of a Node.js file, not inside a function body; as a comment it keeps every column.
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  return `${form === 'body' ? 'async ' : ''}function ${name}${parameters} {\n${body}\n`;
}

export function wrapSource(source: string, form: ScriptForm): string {
  return `(${unclosedFunction(form, '', source)}})`;
}

export type V8CompileError = Omit<ScriptError, 'stack'>;

/** Splits V8's "Unexpected token ';' [script.js:3:9]" (isolated-vm's format) into its parts. */
export function parseCompileError(error: unknown): V8CompileError {
  const name = error instanceof Error ? error.name : 'SyntaxError';
  const raw = errorMessage(error);
  const match = /\s*\[script\.js:(\d+):(\d+)\]\s*$/.exec(raw);
  if (!match) return { name, message: raw };
  return { name, message: raw.slice(0, match.index), line: Number(match[1]), column: Number(match[2]) };
}

/** The failure with the user's line and column, the line itself and a caret. */
export function describeCompileFailure(error: V8CompileError, sourceLines: readonly string[], file = USER_FILE): CompileFailure {
  if (error.line === undefined || error.column === undefined) {
    return { kind: error.name, message: error.message, diagnostics: `${error.name}: ${error.message}` };
  }
  const line = Math.min(Math.max(1, error.line), sourceLines.length);
  const column = Math.max(1, error.column);
  const text = sourceLines[line - 1] ?? '';
  const caret = `${text.slice(0, column - 1).replace(/[^\t]/g, ' ')}^`;
  return { kind: error.name, message: error.message, line, column, diagnostics: `${file}:${line}:${column}\n${text}\n${caret}\n\n${error.name}: ${error.message}` };
}

/**
 * The CompileFailure of a script whose compile failed with `error`. V8 stopping in the wrapper's
 * closing `})` means the braces do not balance, and it names a token the user never wrote; a second
 * `compile` without the closing, as a function declaration so that an extra `}` ends it cleanly,
 * tells an unclosed block (error at its real place, usually "Unexpected end of input") from an
 * unmatched `}` (compiles).
 */
export async function explainCompileError(error: unknown, source: string, form: ScriptForm, compile: (source: string) => Promise<void>): Promise<CompileFailure> {
  const sourceLines = source.split(/\r\n|\r|\n/);
  const parsed = parseCompileError(error);
  if (parsed.line === undefined || parsed.line <= sourceLines.length) return describeCompileFailure(parsed, sourceLines);
  try {
    await compile(unclosedFunction(form, 'check', source));
    const line = sourceLines.findLastIndex((text) => text.includes('}'));
    const column = (sourceLines[line]?.lastIndexOf('}') ?? 0) + 1;
    return describeCompileFailure({ name: parsed.name, message: "Unexpected token '}'", line: line + 1, column }, sourceLines);
  } catch (probeError) {
    const second = parseCompileError(probeError);
    if (second.line !== undefined && second.line <= sourceLines.length) return describeCompileFailure(second, sourceLines);
    const column = (sourceLines.at(-1)?.length ?? 0) + 1;
    return describeCompileFailure({ name: parsed.name, message: 'Unexpected end of input', line: sourceLines.length, column }, sourceLines);
  }
}
