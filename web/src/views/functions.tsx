/**
 * The functions catalog: search and filters (language, type, tag) over the whole catalog; a
 * function's page (description, schemas, examples each runnable in one click, version, the
 * script of a dynamic one); registering, changing and deleting dynamic functions.
 */
import type { ExecuteReply, FunctionDetail, FunctionSummary } from '@lambda-microservice/client';
import { useState } from 'preact/hooks';

import { consoleError, describeError, loadCatalog, useConsole, useLoad, type ShownError } from '../api';
import { ErrorView } from '../components/error-view';
import { JsonBlock, StatusBadge, formatTime } from '../components/json-block';
import { SelectField } from '../components/select-field';
import { CodeEditor, type LineDiagnostic } from '../editor/code-editor';
import { editorLanguageOf } from '../editor/languages';
import { isPlainObject, parseJson, prettyJson } from '../json';
import { href, navigate } from '../router';

export function FunctionsView({ route }: { readonly route: readonly string[] }) {
  const [first, second] = route;
  if (first === undefined) return <Catalog />;
  if (first === 'new') return <FunctionForm existing={undefined} />;
  if (second === 'edit') return <EditFunction languageTitle={first} />;
  return <FunctionPage languageTitle={first} />;
}

const distinct = (values: Iterable<string>): string[] => [...new Set(values)].sort();

function Catalog() {
  const { client } = useConsole();
  const catalog = useLoad(() => loadCatalog(client), [client]);
  const [search, setSearch] = useState('');
  const [language, setLanguage] = useState('');
  const [type, setType] = useState('');
  const [tag, setTag] = useState('');
  const all = catalog.data ?? [];
  const needle = search.trim().toLowerCase();
  const shown = all.filter(
    (f) =>
      (needle === '' || `${f.language_title} ${f.description ?? ''} ${f.tags.join(' ')}`.toLowerCase().includes(needle)) &&
      (language === '' || f.language === language) &&
      (type === '' || f.type === type) &&
      (tag === '' || f.tags.includes(tag)),
  );
  return (
    <div>
      <h1>Functions</h1>
      <div class="toolbar">
        <div class="field grow">
          <label for="search">Search</label>
          <input id="search" type="search" placeholder="name, description or tag" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </div>
        <SelectField id="filter-language" label="Language" all="all" value={language} onChange={setLanguage} options={distinct(all.map((f) => f.language))} />
        <SelectField id="filter-type" label="Type" all="all" value={type} onChange={setType} options={['predefined', 'dynamic']} />
        <SelectField id="filter-tag" label="Tag" all="all" value={tag} onChange={setTag} options={distinct(all.flatMap((f) => f.tags))} />
        <a class="button primary" href={href('functions', 'new')}>
          Register a function
        </a>
      </div>
      {catalog.error ? <ErrorView error={catalog.error} title="The catalog" /> : null}
      <p class="hint" aria-live="polite">
        {catalog.loading && !catalog.data ? 'Loading…' : `${shown.length} of ${all.length} functions`}
      </p>
      <ul class="cards" aria-label="Catalog">
        {shown.map((f) => (
          <FunctionCard key={f.language_title} fn={f} />
        ))}
      </ul>
    </div>
  );
}

function FunctionCard({ fn }: { readonly fn: FunctionSummary }) {
  return (
    <li class="card">
      <a class="card-title" href={href('functions', fn.language_title)}>
        {fn.language_title}
      </a>
      <span class="meta">
        <StatusBadge status={fn.type} /> {fn.language} · v{fn.version}
      </span>
      {fn.description ? <p>{fn.description}</p> : null}
      {fn.tags.length > 0 ? (
        <ul class="tags" aria-label="Tags">
          {fn.tags.map((t) => (
            <li key={t}>{t}</li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function FunctionPage({ languageTitle }: { readonly languageTitle: string }) {
  const { client } = useConsole();
  const fn = useLoad(() => client.functions.get(languageTitle), [client, languageTitle]);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<ShownError | undefined>();
  if (fn.error) return <ErrorView error={fn.error} title={languageTitle} />;
  if (!fn.data) return <p class="hint">Loading…</p>;
  const f = fn.data;
  const remove = async (): Promise<void> => {
    try {
      await client.functions.delete(f.language_title);
      navigate('functions');
    } catch (error) {
      setDeleteError(describeError(error));
    }
  };
  return (
    <article class="function-page">
      <p>
        <a href={href('functions')}>← Functions</a>
      </p>
      <h1>{f.language_title}</h1>
      <dl class="figures">
        <dt>Type</dt>
        <dd>
          <StatusBadge status={f.type} />
        </dd>
        <dt>Version</dt>
        <dd>{f.version}</dd>
        <dt>Language</dt>
        <dd>{f.language}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(f.updated_at)}</dd>
        <dt>Results cached</dt>
        <dd>{f.cache ? 'yes' : 'no'}</dd>
        {f.tags.length > 0 ? (
          <>
            <dt>Tags</dt>
            <dd>{f.tags.join(', ')}</dd>
          </>
        ) : null}
      </dl>
      {f.description ? <p class="description">{f.description}</p> : null}
      <div class="actions">
        <a class="button primary" href={href('playground', f.language_title)}>
          Open in the Playground
        </a>
        <a class="button" href={href('monitoring', f.language_title)}>
          Monitoring
        </a>
        {f.type === 'dynamic' ? (
          <>
            <a class="button" href={href('functions', f.language_title, 'edit')}>
              Edit
            </a>
            {deleting ? (
              <span class="confirm" role="group" aria-label="Confirm deletion">
                Delete {f.language_title}? Running sessions go on.{' '}
                <button type="button" class="danger" onClick={() => void remove()}>
                  Yes, delete
                </button>
                <button type="button" onClick={() => setDeleting(false)}>
                  Cancel
                </button>
              </span>
            ) : (
              <button type="button" class="danger" onClick={() => setDeleting(true)}>
                Delete
              </button>
            )}
          </>
        ) : null}
      </div>
      {deleteError ? <ErrorView error={deleteError} title="Delete failed" /> : null}

      <div class="columns">
        <section class="panel" aria-labelledby="params-schema">
          <h2 id="params-schema">Params schema</h2>
          {f.schema?.params ? <JsonBlock value={f.schema.params} /> : <p class="hint">None: any params are accepted.</p>}
        </section>
        <section class="panel" aria-labelledby="result-schema">
          <h2 id="result-schema">Result schema</h2>
          {f.schema?.result ? <JsonBlock value={f.schema.result} /> : <p class="hint">None.</p>}
        </section>
      </div>

      <section class="panel" aria-labelledby="examples">
        <h2 id="examples">Examples</h2>
        {f.examples.length === 0 ? (
          <p class="hint">None.</p>
        ) : (
          <ol class="examples">
            {f.examples.map((example, i) => (
              <Example key={i} fn={f} example={example} index={i + 1} />
            ))}
          </ol>
        )}
      </section>

      {f.script_content !== undefined ? (
        <section class="panel" aria-labelledby="script">
          <h2 id="script">Script</h2>
          <CodeEditor label="Function script" value={f.script_content} language={editorLanguageOf(f.language_title, f.script_content)} readOnly minLines={6} />
          {f.dependencies && Object.keys(f.dependencies).length > 0 ? <JsonBlock value={f.dependencies} label="Dependencies" /> : null}
        </section>
      ) : null}
    </article>
  );
}

/** One example: its params and expected result, and a button that runs it (a new session of the function). */
function Example({ fn, example, index }: { readonly fn: FunctionDetail; readonly example: unknown; readonly index: number }) {
  const { client } = useConsole();
  const [outcome, setOutcome] = useState<{ reply: ExecuteReply } | { error: ShownError } | undefined>();
  const [running, setRunning] = useState(false);
  const params: unknown = isPlainObject(example) && 'params' in example ? example.params : example;
  const expected: unknown = isPlainObject(example) && 'result' in example ? example.result : undefined;
  const run = async (): Promise<void> => {
    setRunning(true);
    try {
      const session = await client.initialize(fn.language_title, { context: { retain_session: false } });
      setOutcome({ reply: await client.execute(session.request_id, params) });
    } catch (error) {
      setOutcome({ error: describeError(error) });
    } finally {
      setRunning(false);
    }
  };
  return (
    <li class="example">
      <div class="example-io">
        <div>
          <h3>Params</h3>
          <JsonBlock value={params} />
        </div>
        {expected !== undefined ? (
          <div>
            <h3>Expected result</h3>
            <JsonBlock value={expected} />
          </div>
        ) : null}
      </div>
      <button type="button" onClick={() => void run()} disabled={running}>
        Run example {index}
      </button>
      <section aria-label={`Example ${index} result`} aria-live="polite">
        {outcome && 'reply' in outcome ? (
          <p class="ok">
            Returned <code>{prettyJson(outcome.reply.result)}</code> in {outcome.reply.execution_time_ms.toFixed(2)} ms
            {expected !== undefined ? (JSON.stringify(outcome.reply.result) === JSON.stringify(expected) ? ', as expected.' : ', not the expected result.') : '.'}
          </p>
        ) : outcome ? (
          <ErrorView error={outcome.error} />
        ) : null}
      </section>
    </li>
  );
}

function EditFunction({ languageTitle }: { readonly languageTitle: string }) {
  const { client } = useConsole();
  const fn = useLoad(() => client.functions.get(languageTitle), [client, languageTitle]);
  if (fn.error) return <ErrorView error={fn.error} title={languageTitle} />;
  if (!fn.data) return <p class="hint">Loading…</p>;
  return <FunctionForm existing={fn.data} />;
}

const jsonText = (value: unknown): string => (value === undefined || value === null ? '' : prettyJson(value));

/** Registers a dynamic function (existing undefined) or changes one: each change makes a new version. */
function FunctionForm({ existing }: { readonly existing: FunctionDetail | undefined }) {
  const { client } = useConsole();
  const [languageTitle, setLanguageTitle] = useState(existing?.language_title ?? 'nodejs-');
  const [description, setDescription] = useState(existing?.description ?? '');
  const [script, setScript] = useState(existing?.script_content ?? 'return event.params;\n');
  const [paramsSchema, setParamsSchema] = useState(jsonText(existing?.schema?.params));
  const [resultSchema, setResultSchema] = useState(jsonText(existing?.schema?.result));
  const [examples, setExamples] = useState(existing ? prettyJson(existing.examples) : '[]');
  const [tags, setTags] = useState(existing?.tags.join(', ') ?? '');
  const [cache, setCache] = useState(existing?.cache ?? true);
  const [error, setError] = useState<ShownError | undefined>();
  const [diagnostics, setDiagnostics] = useState<readonly LineDiagnostic[]>([]);
  const [saving, setSaving] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const parsed = { params: parseJson(paramsSchema), result: parseJson(resultSchema), examples: parseJson(examples, []) };
    const bad = Object.entries(parsed).find(([, p]) => !p.ok);
    if (bad) {
      setError(consoleError('INVALID_JSON', `${bad[0]} is not valid JSON`));
      return;
    }
    const value = (p: (typeof parsed)[keyof typeof parsed]): unknown => (p.ok ? p.value : undefined);
    const schema = { ...(value(parsed.params) !== undefined ? { params: value(parsed.params) } : {}), ...(value(parsed.result) !== undefined ? { result: value(parsed.result) } : {}) };
    const body = {
      script_content: script,
      description: description.trim() === '' ? null : description,
      schema: Object.keys(schema).length > 0 ? schema : null,
      examples: (value(parsed.examples) as unknown[] | undefined) ?? [],
      tags: tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      cache,
    };
    setSaving(true);
    setError(undefined);
    try {
      const saved = existing ? await client.functions.update(existing.language_title, body) : await client.functions.register({ ...body, language_title: languageTitle.trim() });
      navigate('functions', saved.language_title);
    } catch (failure) {
      const shown = describeError(failure);
      setError(shown);
      if (shown.line !== undefined) setDiagnostics([{ line: shown.line, column: shown.column, message: `${shown.code}: ${shown.message}` }]);
    } finally {
      setSaving(false);
    }
  };

  return (
    <form class="function-form" onSubmit={(e) => void submit(e)}>
      <p>
        <a href={existing ? href('functions', existing.language_title) : href('functions')}>← {existing ? existing.language_title : 'Functions'}</a>
      </p>
      <h1>{existing ? `Edit ${existing.language_title} (version ${existing.version})` : 'Register a function'}</h1>
      <div class="field">
        <label for="fn-title">Language-Title</label>
        <input id="fn-title" required value={languageTitle} disabled={existing !== undefined} onInput={(e) => setLanguageTitle(e.currentTarget.value)} />
        <small>
          <code>nodejs-</code>, <code>typescript-</code>, <code>python-</code> or <code>rust-</code> then a title
        </small>
      </div>
      <div class="field">
        <label for="fn-description">Description</label>
        <input id="fn-description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </div>
      <div class="field">
        <span class="label">Script</span>
        <CodeEditor
          label="Function script"
          value={script}
          onChange={(text) => {
            setScript(text);
            setDiagnostics([]);
          }}
          language={editorLanguageOf(languageTitle, script)}
          diagnostics={diagnostics}
          minLines={10}
        />
      </div>
      <div class="columns">
        <div class="field">
          <span class="label">Params schema (JSON Schema, optional)</span>
          <CodeEditor label="Params schema" value={paramsSchema} onChange={setParamsSchema} language="json" minLines={5} />
        </div>
        <div class="field">
          <span class="label">Result schema (optional)</span>
          <CodeEditor label="Result schema" value={resultSchema} onChange={setResultSchema} language="json" minLines={5} />
        </div>
      </div>
      <div class="field">
        <span class="label">Examples (a JSON array of {'{ "params": ..., "result": ... }'})</span>
        <CodeEditor label="Examples" value={examples} onChange={setExamples} language="json" minLines={4} />
      </div>
      <div class="field">
        <label for="fn-tags">Tags (comma-separated)</label>
        <input id="fn-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
      </div>
      <label class="check">
        <input type="checkbox" checked={cache} onChange={(e) => setCache(e.currentTarget.checked)} /> Cache results (off for functions that are not deterministic)
      </label>
      {error ? <ErrorView error={error} title={existing ? 'Update failed' : 'Register failed'} /> : null}
      <div class="actions">
        <button type="submit" class="primary" disabled={saving}>
          {existing ? 'Save changes' : 'Register'}
        </button>
      </div>
    </form>
  );
}
