/**
 * rustc's JSON diagnostics (`--error-format json`) as a CompileFailure in the user's coordinates:
 * the crate root is the user's script followed by the runtime's entry point, and the sandbox's
 * paths are taken out of the text.
 */
import type { CompileFailure } from '../runtime.js';

/** rustc's JSON, as far as it is read here (and trusted no further). */
type Span = Partial<Record<'file_name' | 'line_start' | 'column_start' | 'is_primary', unknown>>;
type Diagnostic = Partial<Record<'message' | 'level' | 'rendered' | 'spans', unknown>> & { readonly code?: { readonly code?: unknown } | null };

const HANDLER_CONTRACT =
  'the script must define `pub fn handler(event: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value, String>`, or a handler of serde types (`pub fn handler(params: P) -> Result<R, E>`, optionally `(params: P, context: C)`, with P: Deserialize, R: Serialize, E: Display), and then no `main`; or only a `fn main` that reads the event on stdin and prints its result';

/** The crate a "not found" error names: `use foo::..`, `foo::bar()`, `extern crate foo`. */
const MISSING_CRATE = /^(?:unresolved import `([\w]+)|failed to resolve: use of undeclared crate or module `([\w]+)`|can't find crate for `([\w]+)`)/;

/** Sandbox paths out of the compiler's text: the script is `script.rs`, nothing else is named. */
export function cleanText(text: string): string {
  return text.replaceAll('/work/', '').replace(/\/deps\/(lib[\w-]+?)-[0-9a-f]{16}\.(rlib|rmeta)/g, '$1.$2').trim();
}

/** The first error of `stderr`, placed in the first `userLines` lines; undefined when rustc reported no error. */
export function describeCompileErrors(stderr: string, userLines: number, crates: readonly string[] = []): CompileFailure | undefined {
  const errors: { message: string; code: string; spans: Span[] }[] = [];
  const rendered: string[] = [];
  for (const line of stderr.split('\n')) {
    let diagnostic: Diagnostic | undefined;
    try {
      diagnostic = line.startsWith('{') ? (JSON.parse(line) as Diagnostic) : undefined;
    } catch {
      // Not JSON: text rustc or the sandbox printed, kept as it is.
    }
    if (!diagnostic) {
      if (line.trim() !== '') rendered.push(line);
      continue;
    }
    const spans = Array.isArray(diagnostic.spans) ? (diagnostic.spans as Span[]) : [];
    if (diagnostic.level === 'warning' && spans.length === 0) continue;
    if (typeof diagnostic.rendered === 'string' && diagnostic.rendered) rendered.push(diagnostic.rendered.trimEnd());
    if (diagnostic.level === 'error' || diagnostic.level === 'error: internal compiler error') {
      errors.push({ message: typeof diagnostic.message === 'string' ? diagnostic.message : '', code: typeof diagnostic.code?.code === 'string' ? diagnostic.code.code : '', spans });
    }
  }
  const first = errors.find((e) => e.spans.length > 0 && !e.message.startsWith('aborting due to')) ?? errors[0];
  if (!first) return undefined;
  const inUserScript = (span: Span): boolean =>
    (span.file_name === 'script.rs' || span.file_name === '/work/script.rs') && typeof span.line_start === 'number' && span.line_start <= userLines;
  // The primary span, or else (an unclosed delimiter is reported at the end of the file, in the
  // entry point) the first span in the user's script.
  const primary = first.spans.find((s) => s.is_primary === true) ?? first.spans[0];
  const span = primary && inUserScript(primary) ? primary : first.spans.find(inUserScript);
  // An error where the entry point calls the script: it defines no handler the entry point can call.
  const inEntryPoint = primary !== undefined && !inUserScript(primary) && !/unclosed delimiter|unterminated/.test(first.message);
  return {
    kind: 'rustc',
    message: `${first.code ? `[${first.code}] ` : ''}${first.message}${inEntryPoint ? ` (${HANDLER_CONTRACT})` : ''}${missingCrate(first.message, crates)}`,
    ...(typeof span?.line_start === 'number' ? { line: span.line_start } : {}),
    ...(typeof span?.column_start === 'number' ? { column: span.column_start } : {}),
    diagnostics: cleanText(rendered.join('\n')),
  };
}

/** When `message` names a crate outside the set: which crates there are. */
function missingCrate(message: string, crates: readonly string[]): string {
  const match = MISSING_CRATE.exec(message);
  const name = match?.[1] ?? match?.[2] ?? match?.[3];
  if (name === undefined || crates.length === 0 || crates.includes(name) || name === 'crate' || name === 'self' || name === 'super') return '';
  return ` (\`${name}\` is not a crate scripts can use; the crates are: ${crates.join(', ')}, and the standard library)`;
}
