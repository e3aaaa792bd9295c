/**
 * The two forms a Node.js script can take, and the wrapper each is compiled in. Pure: no V8 here.
 */

/** The file name V8 reports in stacks and compile errors. */
export const USER_FILE = 'script.js';

/*
 * Script forms. A script that assigns `module.exports` (or a property of it) or a property of
 * `exports` is a CommonJS module whose exported function is the handler; anything else is the body
 * of an async function `(event, params, context)`. The test is textual (a regular expression over
 * the source), so a function body that merely mentions `module.exports = ` inside a string is read
 * as a module; prepare then says clearly that it exports no function.
 */
export type ScriptForm = 'body' | 'module';
export const MODULE_FORM = /(?:^|[^.\w$])(?:module\s*\.\s*exports|exports)\s*(?:\.\s*[A-Za-z_$][\w$]*\s*|\[[^\]\n]*\]\s*)*=(?!=)/m;
/*
 * The wrapper's opening sits on a line of its own and scripts are compiled with lineOffset -1, so
 * V8 reports lines and columns in the user's own coordinates with no arithmetic. A script can close
 * the wrapper early (`}); more code; (function () {`): that only runs its own code at the top level
 * of its own context, still inside the sandbox and under the call's timeout, and the guest refuses
 * a completion value that is not the wrapper function.
 */
export const BODY_PREFIX = '(async function (event, params, context) {\n';
export const MODULE_PREFIX = '(function (exports, require, module, __filename, __dirname) {\n';
export const WRAPPER_SUFFIX = '\n})';

export function detectForm(source: string): ScriptForm {
  return MODULE_FORM.test(source) ? 'module' : 'body';
}

export function normalizeSource(source: string): string {
  // A shebang line is legal at the top of a Node.js file but not inside a function body; turning
  // it into a comment keeps every column where it was.
  return source.startsWith('#!') ? `//${source.slice(2)}` : source;
}

export function wrapSource(source: string, form: ScriptForm): string {
  return `${form === 'body' ? BODY_PREFIX : MODULE_PREFIX}${normalizeSource(source)}${WRAPPER_SUFFIX}`;
}
