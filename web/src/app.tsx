/** The console's shell: the navigation, the token, and the view the hash names. */
import { useMemo, useState } from 'preact/hooks';

import { ConsoleContext, createConsoleClient, type ConsoleState } from './api';
import { href, useRoute } from './router';
import { loadToken, storeToken } from './token';
import { FunctionsView } from './views/functions';
import { MonitoringView } from './views/monitoring';
import { Playground } from './views/playground';
import { SessionsView } from './views/sessions';
import { SettingsView } from './views/settings';

const VIEWS = [
  { id: 'playground', label: 'Playground' },
  { id: 'functions', label: 'Functions' },
  { id: 'sessions', label: 'Sessions' },
  { id: 'monitoring', label: 'Monitoring' },
  { id: 'settings', label: 'Settings' },
] as const;

export function App() {
  const [token, setTokenState] = useState(loadToken);
  const state = useMemo<ConsoleState>(
    () => ({
      client: createConsoleClient(token),
      token,
      setToken: (next) => {
        storeToken(next);
        setTokenState(next);
      },
    }),
    [token],
  );
  const [view = 'playground', ...rest] = useRoute();
  return (
    <ConsoleContext.Provider value={state}>
      <div class="layout">
        <header class="top">
          <span class="brand">λ Lambda Microservice</span>
          <nav aria-label="Console">
            <ul>
              {VIEWS.map((item) => (
                <li key={item.id}>
                  <a href={href(item.id)} aria-current={view === item.id ? 'page' : undefined}>
                    {item.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <a class="docs-link" href="/docs">
            API reference
          </a>
        </header>
        <main>{renderView(view, rest)}</main>
      </div>
    </ConsoleContext.Provider>
  );
}

function renderView(view: string, rest: string[]) {
  switch (view) {
    case 'playground':
      // `#/playground/<language_title>` opens with that catalog function.
      return <Playground key={rest[0] ?? ''} preset={rest[0]} />;
    case 'functions':
      return <FunctionsView route={rest} />;
    case 'sessions':
      return <SessionsView route={rest} />;
    case 'monitoring':
      return <MonitoringView preset={rest[0]} />;
    case 'settings':
      return <SettingsView />;
    default:
      return (
        <p>
          No view “{view}”. <a href={href('playground')}>Go to the Playground</a>.
        </p>
      );
  }
}
