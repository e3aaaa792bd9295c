/** Settings: the JWT the console sends (this tab's sessionStorage only) and what it grants. */
import { useState } from 'preact/hooks';

import { describeError, useConsole, type ShownError } from '../api';
import { ErrorView } from '../components/error-view';
import { readClaims } from '../token';

export function SettingsView() {
  const { client, token, setToken } = useConsole();
  const [draft, setDraft] = useState(token ?? '');
  const [check, setCheck] = useState<{ ok: true } | { error: ShownError } | undefined>();
  const claims = token ? readClaims(token) : undefined;

  const save = (event: Event): void => {
    event.preventDefault();
    setCheck(undefined);
    setToken(draft.trim() === '' ? undefined : draft.trim());
  };
  const test = async (): Promise<void> => {
    try {
      await client.sessions.list({ limit: 1 });
      setCheck({ ok: true });
    } catch (error) {
      setCheck({ error: describeError(error) });
    }
  };

  return (
    <div>
      <h1>Settings</h1>
      <form class="panel" onSubmit={save}>
        <h2>Token</h2>
        <p class="hint">
          When the service has authentication on, every call wants a JWT. It is kept in this tab's sessionStorage (gone when the tab closes), sent only as the
          Authorization header, and never put in a URL.
        </p>
        <div class="field">
          <label for="token">JWT</label>
          <textarea id="token" rows={4} spellcheck={false} autocomplete="off" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Save token
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft('');
              setToken(undefined);
              setCheck(undefined);
            }}
          >
            Forget token
          </button>
          <button type="button" onClick={() => void test()}>
            Try it
          </button>
          {check && 'ok' in check ? (
            <span class="ok" role="status">
              The service accepted it.
            </span>
          ) : null}
        </div>
        {check && 'error' in check ? <ErrorView error={check.error} title="The service refused" /> : null}
      </form>
      <section class="panel" aria-labelledby="claims-heading">
        <h2 id="claims-heading">What the token says</h2>
        {!token ? (
          <p class="hint">No token: calls are anonymous (with authentication off, anonymous callers hold every scope).</p>
        ) : claims instanceof Error ? (
          <p class="problem">This is not a JWT the console can read: {claims.message}.</p>
        ) : claims ? (
          <dl class="figures">
            <dt>Subject</dt>
            <dd>{claims.subject ?? '—'}</dd>
            <dt>Scopes</dt>
            <dd>
              {claims.scopes.length === 0 ? (
                'none'
              ) : (
                <ul class="tags" aria-label="Scopes">
                  {claims.scopes.map((scope) => (
                    <li key={scope}>{scope}</li>
                  ))}
                </ul>
              )}
            </dd>
            <dt>Expires</dt>
            <dd>
              {claims.expiresAt ? claims.expiresAt.toLocaleString() : 'never'}
              {claims.expiresAt && claims.expiresAt.getTime() < Date.now() ? <span class="problem"> (expired)</span> : null}
            </dd>
            <dt>Issuer</dt>
            <dd>{claims.issuer ?? '—'}</dd>
          </dl>
        ) : null}
      </section>
    </div>
  );
}
