/**
 * The caller's sessions (GET /api/v1/sessions: status, executions, expiry) and a session's page:
 * its execution history (GET /api/v1/sessions/{id}/executions), extend and delete.
 */
import type { Execution, Session, SessionListQuery } from '@lambda-microservice/client';
import { useEffect, useRef, useState } from 'preact/hooks';

import { describeError, useConsole, useLoad, type ShownError } from '../api';
import { ErrorView } from '../components/error-view';
import { JsonBlock, StatusBadge, formatTime } from '../components/json-block';
import { SelectField } from '../components/select-field';
import { href, navigate } from '../router';

export function SessionsView({ route }: { readonly route: readonly string[] }) {
  return route[0] ? <SessionPage requestId={route[0]} /> : <SessionList />;
}

const STATUSES = ['active', 'expired', 'completed', 'error'] as const;

/**
 * Pages of a cursor-paged list: the first is loaded whenever `deps` change, `more()` appends the
 * next. An answer that comes after the list was started again is dropped.
 */
function usePaged<T>(load: (cursor: string | undefined) => Promise<{ items: T[]; next: string | null }>, deps: readonly unknown[]) {
  const [state, setState] = useState<{ items: T[]; next: string | null; error: ShownError | undefined; loading: boolean }>({ items: [], next: null, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  const fetchPage = (cursor: string | undefined): void => {
    const mine = generation.current;
    setState((s) => ({ ...s, loading: true }));
    load(cursor).then(
      (page) => mine === generation.current && setState((s) => ({ items: cursor ? [...s.items, ...page.items] : page.items, next: page.next, error: undefined, loading: false })),
      (error: unknown) => mine === generation.current && setState((s) => ({ ...s, error: describeError(error), loading: false })),
    );
  };
  useEffect(() => {
    generation.current++;
    fetchPage(undefined);
  }, [...deps, tick]);
  return {
    ...state,
    more: () => state.next !== null && fetchPage(state.next),
    reload: () => setTick((t) => t + 1),
  };
}

/** How many rows are shown and whether there are more, and the button that loads them. */
function PageFooter({ pages, what, none }: { readonly pages: { items: unknown[]; next: string | null; loading: boolean; more: () => void }; readonly what: string; readonly none: string }) {
  return (
    <>
      <p class="hint" aria-live="polite">
        {pages.loading ? 'Loading…' : pages.items.length === 0 ? none : `${pages.items.length} ${what}${pages.next ? ' (more to load)' : ''}`}
      </p>
      {pages.next !== null ? (
        <button type="button" onClick={pages.more} disabled={pages.loading}>
          Load more
        </button>
      ) : null}
    </>
  );
}

function SessionList() {
  const { client } = useConsole();
  const [status, setStatus] = useState<(typeof STATUSES)[number] | ''>('');
  const [languageTitle, setLanguageTitle] = useState('');
  const list = usePaged<Session>(
    async (cursor) => {
      const query: SessionListQuery = {
        limit: 20,
        ...(cursor ? { cursor } : {}),
        ...(status ? { status } : {}),
        ...(languageTitle.trim() ? { language_title: languageTitle.trim() } : {}),
      };
      const page = await client.sessions.list(query);
      return { items: page.sessions, next: page.next_cursor };
    },
    [client, status, languageTitle],
  );
  return (
    <div>
      <h1>Sessions</h1>
      <div class="toolbar">
        <SelectField id="session-status" label="Status" all="all" value={status} options={STATUSES} onChange={setStatus} />
        <div class="field">
          <label for="session-title">Language-Title</label>
          <input id="session-title" type="search" value={languageTitle} placeholder="e.g. nodejs-calculator" onChange={(e) => setLanguageTitle(e.currentTarget.value)} />
        </div>
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </div>
      {list.error ? <ErrorView error={list.error} title="Sessions" /> : null}
      <table class="table" aria-label="Sessions">
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Language-Title</th>
            <th scope="col">Status</th>
            <th scope="col">Executions</th>
            <th scope="col">Last execute</th>
            <th scope="col">Expires</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((s) => (
            <tr key={s.request_id}>
              <td>
                <a href={href('sessions', s.request_id)}>
                  <code>{s.request_id}</code>
                </a>
              </td>
              <td>{s.language_title}</td>
              <td>
                <StatusBadge status={s.status} />
              </td>
              <td class="number">{s.execution_count}</td>
              <td>{formatTime(s.last_executed_at)}</td>
              <td>{formatTime(s.expires_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <PageFooter pages={list} what="sessions" none="No sessions." />
    </div>
  );
}

function SessionPage({ requestId }: { readonly requestId: string }) {
  const { client } = useConsole();
  const session = useLoad(() => client.sessions.get(requestId), [client, requestId]);
  const history = usePaged<Execution>(
    async (cursor) => {
      const page = await client.executions(requestId, { limit: 50, ...(cursor ? { cursor } : {}) });
      return { items: page.executions, next: page.next_cursor };
    },
    [client, requestId],
  );
  const [actionError, setActionError] = useState<ShownError | undefined>();
  const [notice, setNotice] = useState<string | undefined>();

  const act = async (what: () => Promise<unknown>, done: string): Promise<void> => {
    setActionError(undefined);
    try {
      await what();
      setNotice(done);
      session.reload();
    } catch (error) {
      setActionError(describeError(error));
    }
  };
  const extend = (): Promise<void> => {
    const from = Math.max(Date.now(), session.data ? Date.parse(session.data.expires_at) : 0);
    return act(() => client.sessions.extend(requestId, new Date(from + 3_600_000)), 'Extended by one hour.');
  };
  const remove = (): Promise<void> =>
    act(async () => {
      await client.sessions.delete(requestId);
      navigate('sessions');
    }, 'Deleted.');

  return (
    <div>
      <p>
        <a href={href('sessions')}>← Sessions</a>
      </p>
      <h1>
        Session <code>{requestId}</code>
      </h1>
      {session.error ? <ErrorView error={session.error} title="The session" /> : null}
      {session.data ? (
        <dl class="figures">
          <dt>Language-Title</dt>
          <dd>{session.data.language_title}</dd>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={session.data.status} />
          </dd>
          <dt>Executions</dt>
          <dd>{session.data.execution_count}</dd>
          <dt>Created</dt>
          <dd>{formatTime(session.data.created_at)}</dd>
          <dt>Expires</dt>
          <dd>{formatTime(session.data.expires_at)}</dd>
          <dt>Compile status</dt>
          <dd>{session.data.compile_status}</dd>
        </dl>
      ) : null}
      <div class="actions">
        <button type="button" onClick={() => void extend()} disabled={!session.data || session.data.status !== 'active'}>
          Extend by 1 hour
        </button>
        <button type="button" class="danger" onClick={() => void remove()} disabled={!session.data}>
          Delete session
        </button>
        <button type="button" onClick={history.reload}>
          Refresh
        </button>
        {notice ? (
          <span class="ok" role="status">
            {notice}
          </span>
        ) : null}
      </div>
      {actionError ? <ErrorView error={actionError} /> : null}

      <h2>Executions</h2>
      {history.error ? <ErrorView error={history.error} title="The executions" /> : null}
      <table class="table" aria-label="Executions">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Status</th>
            <th scope="col">Duration</th>
            <th scope="col">Cached</th>
            <th scope="col">Params</th>
            <th scope="col">Response</th>
          </tr>
        </thead>
        <tbody>
          {history.items.map((e) => (
            <tr key={e.id}>
              <td>{formatTime(e.timestamp)}</td>
              <td>
                <span class={e.status_code >= 400 ? 'problem' : 'ok'}>{e.status_code}</span>
                {e.error_code ? <div class="problem">{e.error_code}</div> : null}
              </td>
              <td class="number">{e.duration_ms.toFixed(1)} ms</td>
              <td>{e.cached ? 'yes' : 'no'}</td>
              <td>
                <JsonBlock value={e.params} />
              </td>
              <td>
                <JsonBlock value={e.response} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <PageFooter pages={history} what="executions" none="No executions yet." />
    </div>
  );
}
