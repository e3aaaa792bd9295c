/** The languages the console edits, and how each maps to a Language-Title and a CodeMirror mode. */
import { javascript } from '@codemirror/lang-javascript';
import { json } from '@codemirror/lang-json';
import { python } from '@codemirror/lang-python';
import { rust } from '@codemirror/lang-rust';
import { wast } from '@codemirror/lang-wast';
import type { Extension } from '@codemirror/state';

export type EditorLanguage = 'javascript' | 'typescript' | 'python' | 'rust' | 'wat' | 'json';

export function languageExtension(language: EditorLanguage): Extension {
  switch (language) {
    case 'javascript':
      return javascript();
    case 'typescript':
      return javascript({ typescript: true });
    case 'python':
      return python();
    case 'rust':
      return rust();
    case 'wat':
      return wast();
    case 'json':
      return json();
  }
}

export interface ScriptLanguage {
  readonly id: 'nodejs' | 'typescript' | 'python' | 'rust' | 'wat';
  readonly label: string;
  /** The Language-Title's prefix: the runtime that runs it (a WAT module runs on the Rust runtime). */
  readonly prefix: string;
  readonly editor: EditorLanguage;
  /** The script forms the runtime takes. */
  readonly forms: string;
  readonly sample: string;
  readonly params: unknown;
}

export const SCRIPT_LANGUAGES: readonly ScriptLanguage[] = [
  {
    id: 'nodejs',
    forms: 'A function body (may await), module.exports = async (event) => …, exports.handler = …, a (event, callback) function, or an ES module with export default.',
    label: 'JavaScript (Node.js)',
    prefix: 'nodejs',
    editor: 'javascript',
    // (A comment naming the CommonJS form would make the service take the script for one.)
    sample: "// An async function body: event.params in, a JSON result out.\nconsole.log('adding', event.params.a, 'and', event.params.b);\nreturn { sum: event.params.a + event.params.b };\n",
    params: { a: 2, b: 3 },
  },
  {
    id: 'typescript',
    forms: 'As JavaScript, typed: the Language-Title is typescript-<title>.',
    label: 'TypeScript',
    prefix: 'typescript',
    editor: 'typescript',
    sample: 'interface Params { a: number; b: number }\nconst { a, b } = event.params as Params;\nreturn { product: a * b };\n',
    params: { a: 6, b: 7 },
  },
  {
    id: 'python',
    forms: 'Top-level code that assigns result, def handle(params), or def handler(event).',
    label: 'Python',
    prefix: 'python',
    editor: 'python',
    sample: '# Top-level code that assigns result; params, context and event are in scope.\nprint("adding", params["a"], "and", params["b"])\nresult = {"sum": params["a"] + params["b"]}\n',
    params: { a: 2, b: 3 },
  },
  {
    id: 'rust',
    forms: 'pub fn handler(event: Map<String, Value>) -> Result<Value, String>, compiled to WebAssembly at Initialize; serde_json and the curated crates are there.',
    label: 'Rust (WebAssembly)',
    prefix: 'rust',
    editor: 'rust',
    sample:
      'use serde_json::{json, Map, Value};\n\npub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n    let params = event.get("params").cloned().unwrap_or(Value::Null);\n    let a = params["a"].as_i64().ok_or("a must be an integer")?;\n    let b = params["b"].as_i64().ok_or("b must be an integer")?;\n    Ok(json!({ "sum": a + b }))\n}\n',
    params: { a: 2, b: 3 },
  },
  {
    id: 'wat',
    forms: 'A WebAssembly text module (or base64 .wasm): a WASI command that reads the event JSON on stdin and writes the result JSON on stdout.',
    label: 'WebAssembly text (WAT)',
    prefix: 'rust',
    editor: 'wat',
    sample:
      ';; A WASI command: reads the event as JSON on stdin, writes the result as JSON on stdout.\n(module\n  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))\n  (memory (export "memory") 1)\n  (data (i32.const 100) "{\\"answer\\":42}")\n  (func (export "_start")\n    (i32.store (i32.const 0) (i32.const 100))\n    (i32.store (i32.const 4) (i32.const 13))\n    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))\n',
    params: {},
  },
];

/** The editor mode for a function's script, from its Language-Title (and its text: WAT starts with `(module`). */
export function editorLanguageOf(languageTitle: string, script = ''): EditorLanguage {
  const prefix = languageTitle.split('-')[0] ?? '';
  if (prefix === 'typescript') return 'typescript';
  if (prefix === 'python') return 'python';
  if (prefix === 'rust') return /^\s*(;;[^\n]*\n\s*)*\(module/.test(script) ? 'wat' : 'rust';
  return 'javascript';
}
