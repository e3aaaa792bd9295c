import type { ShownError } from '../api';

/** An error: its code and message, where in the script, the compiler's diagnostics or the stack, schema violations. All as text. */
export function ErrorView({ error, title }: { readonly error: ShownError; readonly title?: string }) {
  const where = error.line !== undefined ? `line ${error.line}${error.column !== undefined ? `, column ${error.column}` : ''}` : undefined;
  return (
    <div class="error" role="alert">
      <p class="error-head">
        {title ? <span>{title}: </span> : null}
        <code class="error-code">{error.code}</code> {error.message}
        {where ? <span class="error-where"> (at {where})</span> : null}
      </p>
      {error.violations.length > 0 ? (
        <ul class="violations">
          {error.violations.map((violation, i) => (
            <li key={i}>{violation}</li>
          ))}
        </ul>
      ) : null}
      {error.trace ? <pre class="trace" aria-label="Stack or diagnostics">{error.trace}</pre> : null}
    </div>
  );
}
