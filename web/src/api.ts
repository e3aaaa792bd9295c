/**
 * Every call the console makes goes through the typed SDK (@lambda-microservice/client), to the
 * origin that served the page: same origin, so no CORS, and `connect-src 'self'` is enough.
 */
import { LambdaApiError, LambdaNetworkError, createLambdaClient, type FunctionSummary, type LambdaClient } from '@lambda-microservice/client';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';

export function createConsoleClient(token: string | undefined): LambdaClient {
  // One retry of a 429/503 at most: a person is waiting, and the error says when to try again.
  return createLambdaClient({ baseUrl: window.location.origin, token, retries: 1, maxRetryDelayMs: 3000 });
}

export interface ConsoleState {
  readonly client: LambdaClient;
  readonly token: string | undefined;
  readonly setToken: (token: string | undefined) => void;
}

export const ConsoleContext = createContext<ConsoleState | undefined>(undefined);

export function useConsole(): ConsoleState {
  const state = useContext(ConsoleContext);
  if (!state) throw new Error('useConsole outside <ConsoleContext.Provider>');
  return state;
}

/** An error as the console shows it: the API's envelope read by the SDK, or what else went wrong. */
export interface ShownError {
  readonly code: string;
  readonly message: string;
  readonly status: number | undefined;
  /** Where in the script (1-based), when the service said: compile errors and runtime errors. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** The compiler's diagnostics or the script's stack trace. */
  readonly trace: string | undefined;
  readonly logs: readonly string[];
  /** Schema violations (INVALID_REQUEST, INVALID_PARAMS): field and message. */
  readonly violations: readonly string[];
}

const positive = (value: unknown): number | undefined => (typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined);

export function describeError(error: unknown): ShownError {
  if (error instanceof LambdaApiError) {
    const { details } = error;
    const trace = typeof details.diagnostics === 'string' ? details.diagnostics : typeof details.stack === 'string' ? details.stack : undefined;
    const violations = Array.isArray(details.violations)
      ? details.violations.map((v: unknown) => {
          const { field, message } = (v ?? {}) as { field?: unknown; message?: unknown };
          return `${typeof field === 'string' && field !== '' ? `${field}: ` : ''}${typeof message === 'string' ? message : JSON.stringify(v)}`;
        })
      : [];
    const logs = Array.isArray(details.logs) ? details.logs.map(String) : [];
    return { code: error.code, message: error.message, status: error.status, line: positive(details.line), column: positive(details.column), trace, logs, violations };
  }
  const code = error instanceof LambdaNetworkError ? 'NETWORK_ERROR' : 'CONSOLE_ERROR';
  return { code, message: error instanceof Error ? error.message : String(error), status: undefined, line: undefined, column: undefined, trace: undefined, logs: [], violations: [] };
}

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: ShownError | undefined;
  readonly loading: boolean;
  readonly reload: () => void;
}

/**
 * The answer of `load`, called again whenever `deps` change (or `reload()` is called); an answer
 * that comes after a newer call was started is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: ShownError | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const call = ++latest.current;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => call === latest.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) => call === latest.current && setState({ data: undefined, error: describeError(error), loading: false }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** The whole catalog, every page (100 a page; the console shows and filters it in the browser). */
export async function loadCatalog(client: LambdaClient): Promise<FunctionSummary[]> {
  const all: FunctionSummary[] = [];
  for (let page = 1; page <= 50; page++) {
    const list = await client.functions.list({ page: String(page), per_page: '100' });
    all.push(...list.functions);
    if (list.functions.length === 0 || all.length >= list.total) break;
  }
  return all;
}

/** An error the console itself found before sending anything (params that are not JSON, say). */
export function consoleError(code: string, message: string): ShownError {
  return { ...describeError(new Error(message)), code };
}
