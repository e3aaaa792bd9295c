/**
 * The Playground: a script (or a catalog function), its params and context; Initialize makes a
 * session, Run executes on it (initializing first when the script, the Language-Title or the
 * context changed since), so Run again executes on the same warm session. A compile or runtime
 * error marks its line in the editor.
 */
import type { ExecuteReply, FunctionDetail } from '@lambda-microservice/client';
import { useEffect, useRef, useState } from 'preact/hooks';

import { consoleError, describeError, loadCatalog, useConsole, useLoad, type ShownError } from '../api';
import { ErrorView } from '../components/error-view';
import { JsonBlock, formatBytes, formatTime } from '../components/json-block';
import { SchemaForm, defaultParams } from '../components/schema-form';
import { CodeEditor, type LineDiagnostic } from '../editor/code-editor';
import { SCRIPT_LANGUAGES, editorLanguageOf, type ScriptLanguage } from '../editor/languages';
import { isPlainObject, lineColumnAt, parseJson, prettyJson } from '../json';
import { href } from '../router';

interface PlaygroundSession {
  readonly id: string;
  readonly expiresAt: string;
  /** What it was initialized with: a Run with the same reuses it. */
  readonly key: string;
}

type Outcome =
  | { readonly kind: 'initialized'; readonly session: PlaygroundSession }
  | { readonly kind: 'result'; readonly reply: ExecuteReply; readonly reused: boolean }
  | { readonly kind: 'error'; readonly phase: 'params' | 'initialize' | 'execute'; readonly error: ShownError };

const FUNCTION_PREFIX = 'fn:';
const LANGUAGE_PREFIX = 'lang:';
const DEFAULT_LANGUAGE = SCRIPT_LANGUAGES[0] as ScriptLanguage;

/** Params to start from for a catalog function: its first example's, else its schema's defaults. */
function startingParams(fn: FunctionDetail): unknown {
  const example: unknown = fn.examples[0];
  if (isPlainObject(example) && 'params' in example) return example.params;
  return isPlainObject(fn.schema?.params) ? defaultParams(fn.schema.params) : {};
}

export function Playground({ preset }: { readonly preset: string | undefined }) {
  const { client } = useConsole();
  const catalog = useLoad(() => loadCatalog(client), [client]);
  const [source, setSource] = useState(preset ? `${FUNCTION_PREFIX}${preset}` : `${LANGUAGE_PREFIX}${DEFAULT_LANGUAGE.id}`);
  const language = SCRIPT_LANGUAGES.find((l) => `${LANGUAGE_PREFIX}${l.id}` === source);
  const functionTitle = source.startsWith(FUNCTION_PREFIX) ? source.slice(FUNCTION_PREFIX.length) : undefined;
  const fn = useLoad(() => (functionTitle ? client.functions.get(functionTitle) : Promise.resolve(undefined)), [client, functionTitle]);

  const [title, setTitle] = useState('playground');
  const [drafts, setDrafts] = useState<Record<string, string>>(() => Object.fromEntries(SCRIPT_LANGUAGES.map((l) => [l.id, l.sample])));
  const [paramsText, setParamsText] = useState(prettyJson(DEFAULT_LANGUAGE.params));
  const [timeoutMs, setTimeoutMs] = useState('');
  const [retainSession, setRetainSession] = useState(true);
  const [useCache, setUseCache] = useState(true);
  const [session, setSession] = useState<PlaygroundSession | undefined>();
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const [diagnostics, setDiagnostics] = useState<readonly LineDiagnostic[]>([]);
  const [busy, setBusy] = useState<'initialize' | 'run' | undefined>();

  // A catalog function starts from its example's params.
  useEffect(() => {
    if (fn.data) setParamsText(prettyJson(startingParams(fn.data)));
  }, [fn.data]);

  const languageTitle = functionTitle ?? `${language?.prefix ?? DEFAULT_LANGUAGE.prefix}-${title}`;
  // A catalog function runs its own script: initialize sends none.
  const script = functionTitle ? undefined : (drafts[language?.id ?? DEFAULT_LANGUAGE.id] ?? '');
  const shownScript = functionTitle ? (fn.data?.script_content ?? '') : (script ?? '');
  const context = { ...(timeoutMs.trim() !== '' ? { timeout_ms: Number(timeoutMs) } : {}), retain_session: retainSession };
  const key = JSON.stringify([languageTitle, script ?? null, context]);
  const params = parseJson(paramsText, {});
  const paramsProblem = params.ok ? undefined : { message: params.message, ...(params.offset !== undefined ? lineColumnAt(paramsText, params.offset) : {}) };

  const fail = (phase: 'initialize' | 'execute', error: unknown): void => {
    const shown = describeError(error);
    setOutcome({ kind: 'error', phase, error: shown });
    if (shown.line !== undefined && (phase === 'initialize' || shown.code === 'RUNTIME_ERROR')) {
      setDiagnostics([{ line: shown.line, column: shown.column, message: `${shown.code}: ${shown.message}` }]);
    }
  };

  async function initializeSession(): Promise<PlaygroundSession> {
    const reply = await client.initialize(languageTitle, { ...(script !== undefined ? { script_content: script } : {}), context });
    const started = { id: reply.request_id, expiresAt: reply.expires_at, key };
    setSession(started);
    return started;
  }

  async function onInitialize(): Promise<void> {
    if (busy) return;
    setBusy('initialize');
    setDiagnostics([]);
    try {
      setOutcome({ kind: 'initialized', session: await initializeSession() });
    } catch (error) {
      setSession(undefined);
      fail('initialize', error);
    } finally {
      setBusy(undefined);
    }
  }

  async function onRun(): Promise<void> {
    if (busy) return;
    if (!params.ok) {
      setOutcome({ kind: 'error', phase: 'params', error: consoleError('INVALID_JSON', `Params are not valid JSON: ${params.message}`) });
      return;
    }
    setBusy('run');
    setDiagnostics([]);
    let phase: 'initialize' | 'execute' = 'initialize';
    try {
      const reused = session !== undefined && session.key === key;
      const target = reused ? session : await initializeSession();
      phase = 'execute';
      const reply = await client.execute(target.id, params.value, { noCache: !useCache });
      setOutcome({ kind: 'result', reply, reused });
      if (!retainSession) setSession(undefined);
    } catch (error) {
      // A session that ended meanwhile (expired, deleted elsewhere) is not reused again.
      if (phase === 'initialize' || describeError(error).code === 'NOT_FOUND') setSession(undefined);
      fail(phase, error);
    } finally {
      setBusy(undefined);
    }
  }

  // Ctrl/Cmd+Enter runs from anywhere in the Playground (the editors handle it themselves first).
  const run = useRef(onRun);
  run.current = onRun;
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
        event.preventDefault();
        void run.current();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const editScript = (text: string): void => {
    if (!language) return;
    setDrafts((previous) => ({ ...previous, [language.id]: text }));
    setDiagnostics([]);
  };

  const chooseSource = (value: string): void => {
    setSource(value);
    setDiagnostics([]);
    const chosen = SCRIPT_LANGUAGES.find((l) => `${LANGUAGE_PREFIX}${l.id}` === value);
    if (chosen) setParamsText(prettyJson(chosen.params));
  };

  const logs = outcome?.kind === 'result' ? outcome.reply.logs : outcome?.kind === 'error' ? outcome.error.logs : [];
  const scriptProblem = diagnostics[0];
  const paramsSchema = fn.data?.schema?.params;

  return (
    <div class="playground">
      <h1>Playground</h1>
      <div class="toolbar">
        <div class="field">
          <label for="source">Language</label>
          <select id="source" value={source} onChange={(e) => chooseSource(e.currentTarget.value)}>
            <optgroup label="Write a script">
              {SCRIPT_LANGUAGES.map((l) => (
                <option key={l.id} value={`${LANGUAGE_PREFIX}${l.id}`}>
                  {l.label}
                </option>
              ))}
            </optgroup>
            <optgroup label="Run a catalog function">
              {(catalog.data ?? []).map((f) => (
                <option key={f.language_title} value={`${FUNCTION_PREFIX}${f.language_title}`}>
                  {f.language_title}
                </option>
              ))}
              {functionTitle && !catalog.data?.some((f) => f.language_title === functionTitle) ? <option value={source}>{functionTitle}</option> : null}
            </optgroup>
          </select>
        </div>
        {functionTitle ? (
          <p class="hint">
            Runs the catalog function <a href={href('functions', functionTitle)}>{functionTitle}</a>
            {fn.data ? ` (version ${fn.data.version})` : ''} with its own script.
          </p>
        ) : (
          <div class="field">
            <label for="title">Title</label>
            <input id="title" value={title} pattern="[A-Za-z0-9_\-]+" onInput={(e) => setTitle(e.currentTarget.value)} />
            <small>
              Language-Title: <code>{languageTitle}</code>
            </small>
          </div>
        )}
      </div>
      {fn.error ? <ErrorView error={fn.error} title="The function" /> : null}
      {fn.data?.description ? <p class="description">{fn.data.description}</p> : null}

      <div class="columns">
        <section class="panel editor-panel" aria-labelledby="script-heading">
          <h2 id="script-heading">Script</h2>
          {functionTitle ? (
            fn.data?.type === 'predefined' ? <p class="hint">A predefined function: its script ships with the service.</p> : null
          ) : (
            <p class="hint">{language?.forms}</p>
          )}
          {functionTitle && fn.data?.type === 'predefined' ? null : (
          <CodeEditor
            label="Script"
            value={shownScript}
            onChange={editScript}
            language={functionTitle ? editorLanguageOf(functionTitle, shownScript) : (language?.editor ?? 'javascript')}
            readOnly={functionTitle !== undefined}
            diagnostics={diagnostics}
            onRun={() => void onRun()}
            describedBy={scriptProblem ? 'script-problem' : undefined}
            minLines={14}
          />
          )}
          {scriptProblem ? (
            <p id="script-problem" class="problem">
              Line {scriptProblem.line}
              {scriptProblem.column !== undefined ? `, column ${scriptProblem.column}` : ''}: {scriptProblem.message}
            </p>
          ) : null}
        </section>

        <section class="panel" aria-labelledby="params-heading">
          <h2 id="params-heading">Params</h2>
          {isPlainObject(paramsSchema) ? <SchemaForm schema={paramsSchema} value={params.ok ? params.value : undefined} onChange={(value) => setParamsText(prettyJson(value))} /> : null}
          <CodeEditor label="Params" value={paramsText} onChange={setParamsText} language="json" onRun={() => void onRun()} describedBy="params-status" minLines={5} />
          <p id="params-status" class={paramsProblem ? 'problem' : 'ok'} aria-live="polite">
            {paramsProblem
              ? `Not valid JSON${'line' in paramsProblem ? ` (line ${paramsProblem.line}, column ${paramsProblem.column})` : ''}: ${paramsProblem.message}`
              : 'Valid JSON'}
          </p>

          <fieldset class="context">
            <legend>Context</legend>
            <div class="field">
              <label for="timeout">Timeout (ms)</label>
              <input id="timeout" type="number" min={1} step={1} placeholder="service default" value={timeoutMs} onInput={(e) => setTimeoutMs(e.currentTarget.value)} />
            </div>
            <label class="check">
              <input type="checkbox" checked={retainSession} onChange={(e) => setRetainSession(e.currentTarget.checked)} /> Retain session (off: it ends after one execute)
            </label>
            <label class="check">
              <input type="checkbox" checked={useCache} onChange={(e) => setUseCache(e.currentTarget.checked)} /> Use the result cache
            </label>
          </fieldset>

          <div class="actions">
            <button type="button" onClick={() => void onInitialize()} disabled={busy !== undefined}>
              Initialize
            </button>
            <button type="button" class="primary" onClick={() => void onRun()} disabled={busy !== undefined} aria-keyshortcuts="Control+Enter Meta+Enter">
              Run
            </button>
            <span class="hint">{busy === 'run' ? 'Running…' : busy === 'initialize' ? 'Initializing…' : 'Ctrl/⌘+Enter runs'}</span>
          </div>
          <p class="session-line" aria-live="polite">
            {session ? (
              <>
                Session <a href={href('sessions', session.id)}>{session.id}</a>, until {formatTime(session.expiresAt)}
                {session.key === key ? ': Run executes on it again' : ': the script or context changed, Run initializes a new one'}
              </>
            ) : (
              'No session yet: Run initializes one.'
            )}
          </p>
        </section>
      </div>

      <div class="columns">
        <section class="panel" aria-label="Result" aria-busy={busy !== undefined}>
          <h2>Result</h2>
          <OutcomeView outcome={outcome} />
        </section>
        <section class="panel" aria-label="Logs">
          <h2>Logs</h2>
          {logs.length === 0 ? (
            <p class="hint">No logs.</p>
          ) : (
            <ol class="logs">
              {logs.map((line, i) => (
                <li key={i}>{line}</li>
              ))}
            </ol>
          )}
        </section>
      </div>
    </div>
  );
}

function OutcomeView({ outcome }: { readonly outcome: Outcome | undefined }) {
  if (!outcome) return <p class="hint">Run the script to see what it returns.</p>;
  if (outcome.kind === 'error') return <ErrorView error={outcome.error} title={outcome.phase === 'initialize' ? 'Initialize failed' : outcome.phase === 'execute' ? 'Execute failed' : 'Not sent'} />;
  if (outcome.kind === 'initialized') {
    return (
      <p class="ok" role="status">
        Initialized session <code>{outcome.session.id}</code>, until {formatTime(outcome.session.expiresAt)}.
      </p>
    );
  }
  const { reply } = outcome;
  return (
    <>
      <dl class="figures">
        <dt>Duration</dt>
        <dd>{reply.execution_time_ms.toFixed(2)} ms</dd>
        <dt>Memory</dt>
        <dd>{formatBytes(reply.memory_usage_bytes)}</dd>
        <dt>Cached</dt>
        <dd data-cached={String(reply.cached)}>{reply.cached ? 'yes' : 'no'}</dd>
        <dt>Session</dt>
        <dd>{outcome.reused ? 'reused' : 'new'}</dd>
      </dl>
      <JsonBlock value={reply.result} label="Returned value" />
    </>
  );
}
