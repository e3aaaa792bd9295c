/**
 * A CodeMirror 6 editor as a Preact component. Its content is labelled (`label` is the text box's
 * accessible name); `diagnostics` (from the service: a compile or runtime error's line and column)
 * are shown as lint marks, with the whole line marked and its message in the line's title.
 */
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { jsonParseLinter } from '@codemirror/lang-json';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, linter, lintKeymap, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { Annotation, Compartment, EditorState, Prec, RangeSetBuilder, StateEffect, StateField, type Extension, type Text } from '@codemirror/state';
import { Decoration, EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers, type DecorationSet } from '@codemirror/view';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';

import { languageExtension, type EditorLanguage } from './languages';

/** A problem at a line (and column) of the text, 1-based as compilers count. */
export interface LineDiagnostic {
  readonly line: number;
  readonly column?: number | undefined;
  readonly message: string;
}

export interface CodeEditorProps {
  /** The accessible name of the text box (`Script`, `Params`, ...). */
  readonly label: string;
  readonly value: string;
  readonly onChange?: (value: string) => void;
  readonly language: EditorLanguage;
  readonly readOnly?: boolean;
  readonly diagnostics?: readonly LineDiagnostic[];
  /** Ctrl/Cmd+Enter. */
  readonly onRun?: () => void;
  /** The id of an element that describes the content (an error message). */
  readonly describedBy?: string | undefined;
  readonly minLines?: number;
}

/** The nonce the service put in the page (index.html's `<meta property="csp-nonce">`): CodeMirror's <style> elements carry it. */
const CSP_NONCE = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.nonce ?? '';

const setErrorLines = StateEffect.define<readonly LineDiagnostic[]>();
/** Marks a change that came from the `value` prop. */
const fromParent = Annotation.define<boolean>();

/** Whole-line marks for the lines that have a diagnostic; cleared by the next edit. */
const errorLines = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, transaction) {
    for (const effect of transaction.effects) if (effect.is(setErrorLines)) return lineMarks(transaction.state.doc, effect.value);
    return transaction.docChanged ? Decoration.none : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

function lineMarks(doc: Text, diagnostics: readonly LineDiagnostic[]): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  const byLine = new Map<number, string>();
  for (const d of diagnostics) if (d.line >= 1 && d.line <= doc.lines) byLine.set(d.line, [byLine.get(d.line), d.message].filter(Boolean).join('\n'));
  for (const [line, message] of [...byLine].sort(([a], [b]) => a - b)) {
    builder.add(doc.line(line).from, doc.line(line).from, Decoration.line({ class: 'cm-errorLine', attributes: { title: message, 'data-error-line': String(line) } }));
  }
  return builder.finish();
}

function toLint(doc: Text, d: LineDiagnostic): Diagnostic {
  const line = doc.line(Math.min(Math.max(1, d.line), doc.lines));
  const column = d.column !== undefined ? Math.min(Math.max(0, d.column - 1), line.length) : 0;
  const from = line.from + column;
  // From the column to the end of the line; a column at the end of the line marks its last character.
  const to = Math.max(line.to, from);
  return { from: from === to && from > line.from ? from - 1 : from, to, severity: 'error', message: d.message };
}

export function CodeEditor(props: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | undefined>(undefined);
  // Handlers change on every render; the editor calls the latest ones.
  const latest = useRef(props);
  latest.current = props;
  const compartments = useRef({ language: new Compartment(), readOnly: new Compartment(), aria: new Compartment() });

  useEffect(() => {
    const { language, readOnly, aria } = compartments.current;
    const extensions: Extension[] = [
      EditorView.cspNonce.of(CSP_NONCE),
      lineNumbers(),
      highlightActiveLineGutter(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      highlightActiveLine(),
      highlightSelectionMatches(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      lintGutter(),
      errorLines,
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (latest.current.onRun ? (latest.current.onRun(), true) : false) }])),
      keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...lintKeymap]),
      language.of(languageExtension(latest.current.language)),
      readOnly.of(readOnlyExtension(latest.current.readOnly ?? false)),
      aria.of(ariaExtension(latest.current.label, latest.current.describedBy)),
      EditorView.updateListener.of((update) => {
        // The parent's own value is not reported back to it.
        if (update.docChanged && !update.transactions.some((t) => t.annotation(fromParent))) latest.current.onChange?.(update.state.doc.toString());
      }),
    ];
    // JSON is checked as it is typed.
    if (latest.current.language === 'json') extensions.push(linter(jsonParseLinter(), { delay: 250 }));
    const editor = new EditorView({ parent: host.current ?? undefined, state: EditorState.create({ doc: latest.current.value, extensions }) });
    editor.dom.style.setProperty('--min-lines', String(latest.current.minLines ?? 8));
    view.current = editor;
    return () => editor.destroy();
  }, []);

  // A value from the parent (a new script, a form edit) replaces the text. A layout effect runs as
  // the render commits, before any more input: a passive one could run late with a value the
  // editor has moved past, and revert it (and the echo of the revert revert it back, forever).
  useLayoutEffect(() => {
    const editor = view.current;
    if (editor && props.value !== editor.state.doc.toString()) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: props.value }, annotations: fromParent.of(true) });
    }
  }, [props.value]);

  useEffect(() => {
    view.current?.dispatch({ effects: compartments.current.language.reconfigure(languageExtension(props.language)) });
  }, [props.language]);

  useEffect(() => {
    view.current?.dispatch({ effects: compartments.current.readOnly.reconfigure(readOnlyExtension(props.readOnly ?? false)) });
  }, [props.readOnly]);

  useEffect(() => {
    view.current?.dispatch({ effects: compartments.current.aria.reconfigure(ariaExtension(props.label, props.describedBy)) });
  }, [props.label, props.describedBy]);

  const diagnostics = props.diagnostics;
  useEffect(() => {
    const editor = view.current;
    if (!editor || (diagnostics === undefined && latest.current.language === 'json')) return;
    const list = diagnostics ?? [];
    const doc = editor.state.doc;
    editor.dispatch(setDiagnostics(editor.state, list.map((d) => toLint(doc, d))), { effects: setErrorLines.of(list) });
  }, [diagnostics]);

  return <div class="code-editor" ref={host} />;
}

function readOnlyExtension(readOnly: boolean): Extension {
  return [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)];
}

function ariaExtension(label: string, describedBy: string | undefined): Extension {
  return EditorView.contentAttributes.of({ 'aria-label': label, ...(describedBy ? { 'aria-describedby': describedBy } : {}) });
}
