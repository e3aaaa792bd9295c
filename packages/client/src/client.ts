/**
 * The Lambda Microservice client: helpers over openapi-fetch, typed by the generated schema.
 * Every helper answers the success body or throws: LambdaApiError for an error answer (the
 * contract's envelope), LambdaNetworkError when the service cannot be reached.
 */
import createClient, { type Client } from 'openapi-fetch';

import { LambdaApiError, LambdaNetworkError, retryAfterSeconds } from './errors.js';
import type { paths } from './schema.js';
import type {
  ExecuteReply,
  ExecutionPage,
  ExecutionsQuery,
  FunctionDeleted,
  FunctionDetail,
  FunctionList,
  FunctionListQuery,
  FunctionRegistration,
  FunctionStats,
  FunctionUpdate,
  HealthReport,
  InitializeBody,
  InitializeReply,
  RuntimesReport,
  Session,
  SessionDeleted,
  SessionListQuery,
  SessionPage,
  SessionUpdate,
  StatsWindow,
} from './types.js';

export interface LambdaClientOptions {
  /** Where the service listens, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** A JWT, sent as `Authorization: Bearer <token>` (when the service has auth on). */
  readonly token?: string | undefined;
  /** The fetch to use (default: the global one). */
  readonly fetch?: ((input: Request) => Promise<Response>) | undefined;
  /** How many times an answer that says "try later" (429; 503 with Retry-After, or of a GET) is tried again (default 2). */
  readonly retries?: number | undefined;
  /**
   * The longest wait before a retry, ms (default 10 000). When Retry-After asks for more, the
   * error is thrown at once: a shorter wait would only be refused again.
   */
  readonly maxRetryDelayMs?: number | undefined;
  /** The User-Agent header (default `lambda-microservice-client/<version>`). */
  readonly userAgent?: string | undefined;
}

export interface ExecuteOptions {
  /** `X-Cache-Control: no-cache`: run the script even when the result cache holds an answer. */
  readonly noCache?: boolean | undefined;
  /** `X-Cache-Control: max-age=<seconds>`: how long this result is cached. */
  readonly maxAge?: number | undefined;
  /** Sent as X-Request-ID (a token of at most 128 characters), to find the request in the service's logs. */
  readonly requestId?: string | undefined;
}

export interface InitializeOptions {
  /** Sent as X-Request-ID. */
  readonly requestId?: string | undefined;
  /** With auth off: the session's user when `context.user_id` is absent (X-User-ID). */
  readonly userId?: string | undefined;
}

/** `run`'s options: initialize's body (but the script) and execute's options. */
export type RunOptions = Omit<InitializeBody, 'script_content'> & ExecuteOptions;

export interface LambdaClient {
  /** The openapi-fetch client underneath, typed by the same schema, for calls the helpers do not cover. */
  readonly api: Client<paths>;
  /** POST /api/v1/initialize: registers a script (checked now: a compile error is thrown here) and answers its session. */
  initialize(languageTitle: string, body?: InitializeBody, options?: InitializeOptions): Promise<InitializeReply>;
  /** POST /api/v1/execute/{requestId}: runs the session's script with `params`. */
  execute(requestId: string, params?: unknown, options?: ExecuteOptions): Promise<ExecuteReply>;
  /** Initialize, then execute once; the answer is execute's (it names the session in `request_id`). */
  run(languageTitle: string, script: string, params?: unknown, options?: RunOptions): Promise<ExecuteReply>;
  readonly sessions: {
    /** The caller's sessions, newest first, one page (`next_cursor` for the next). */
    list(query?: SessionListQuery): Promise<SessionPage>;
    get(requestId: string): Promise<Session>;
    /** PATCH: a new `expires_at` and/or fields merged into its context. */
    update(requestId: string, body: SessionUpdate): Promise<Session>;
    /** Moves its end to `expiresAt` (at most the service's maximum lifetime from now). */
    extend(requestId: string, expiresAt: Date | string): Promise<Session>;
    delete(requestId: string): Promise<SessionDeleted>;
  };
  /** A session's executes as the request log stored them, newest first, one page. */
  executions(requestId: string, paging?: ExecutionsQuery): Promise<ExecutionPage>;
  readonly functions: {
    list(query?: FunctionListQuery): Promise<FunctionList>;
    get(languageTitle: string): Promise<FunctionDetail>;
    register(body: FunctionRegistration): Promise<FunctionDetail>;
    update(languageTitle: string, body: FunctionUpdate): Promise<FunctionDetail>;
    delete(languageTitle: string): Promise<FunctionDeleted>;
    stats(languageTitle: string, window?: StatsWindow): Promise<FunctionStats>;
  };
  /** GET /health: the report, also when the service says it is down (503). */
  health(): Promise<HealthReport>;
  /** GET /api/v1/runtimes: languages, versions, script forms, packages, limits. */
  runtimes(): Promise<RuntimesReport>;
}

export const CLIENT_VERSION = '0.1.0';
const DEFAULT_RETRIES = 2;
const DEFAULT_MAX_RETRY_DELAY_MS = 10_000;
/** The wait before retry n (0-based) when the answer has no Retry-After: 250 ms, 500 ms, 1 s, ... */
const BACKOFF_BASE_MS = 250;
/**
 * Answers that say nothing was done and to try later: a 429 (a rate limit, admission control: the
 * call was refused before it ran), and a 503 that carries Retry-After (the service says the call
 * reached no runtime: none could serve, the process was restarting). A 503 without it may come
 * from a call that was running when its runtime process died: repeating a POST could run the
 * script twice, so only reads (GET) retry those. Any other answer, and a connection that fails,
 * is final.
 */
function retried(method: Method, response: Response): boolean {
  if (response.status === 429) return true;
  return response.status === 503 && (response.headers.has('retry-after') || method === 'GET');
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

type Answer<D> = { data?: D; error?: unknown; response: Response };

export function createLambdaClient(options: LambdaClientOptions): LambdaClient {
  const baseFetch = options.fetch ?? ((input: Request) => globalThis.fetch(input));
  const retries = Math.max(0, Math.floor(options.retries ?? DEFAULT_RETRIES));
  const maxDelayMs = Math.max(0, options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS);
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: {
      'user-agent': options.userAgent ?? `lambda-microservice-client/${CLIENT_VERSION}`,
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    // A failed connection is its own error, whatever fetch threw.
    fetch: async (request: Request) => {
      try {
        return await baseFetch(request);
      } catch (error) {
        throw new LambdaNetworkError(request.url, error);
      }
    },
  });

  /** The wait before trying an answer again, or undefined when it is final. */
  function retryDelayMs(method: Method, response: Response, attempt: number): number | undefined {
    if (!retried(method, response) || attempt >= retries) return undefined;
    const after = retryAfterSeconds(response.headers);
    const delay = after !== undefined ? after * 1000 : BACKOFF_BASE_MS * 2 ** attempt;
    return delay <= maxDelayMs ? delay : undefined;
  }

  /** Makes the call (again while the answer says to retry) and answers its body, or throws its error. */
  async function send<D>(method: Method, call: () => Promise<Answer<D>>, accept: (response: Response, body: unknown) => D | undefined = () => undefined): Promise<D> {
    for (let attempt = 0; ; attempt++) {
      const { data, error, response } = await call();
      if (response.ok) return data as D;
      const accepted = accept(response, error);
      if (accepted !== undefined) return accepted;
      const delay = retryDelayMs(method, response, attempt);
      if (delay === undefined) throw LambdaApiError.fromResponse(response, error);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  const executeHeaders = (o: ExecuteOptions): Record<string, string> => ({
    ...(o.noCache ? { 'x-cache-control': 'no-cache' } : o.maxAge !== undefined ? { 'x-cache-control': `max-age=${Math.floor(o.maxAge)}` } : {}),
    ...(o.requestId !== undefined ? { 'x-request-id': o.requestId } : {}),
  });

  const client: LambdaClient = {
    api,
    initialize: (languageTitle, body = {}, o = {}) =>
      send('POST', () =>
        api.POST('/api/v1/initialize', {
          params: { header: { 'language-title': languageTitle, ...(o.userId !== undefined ? { 'x-user-id': o.userId } : {}) } },
          headers: o.requestId !== undefined ? { 'x-request-id': o.requestId } : {},
          body,
        }),
      ),
    execute: (requestId, params, o = {}) =>
      send('POST', () => api.POST('/api/v1/execute/{requestId}', { params: { path: { requestId } }, headers: executeHeaders(o), body: params === undefined ? {} : { params } })),
    async run(languageTitle, script, params, o = {}) {
      const { noCache, maxAge, requestId, ...body } = o;
      const session = await client.initialize(languageTitle, { ...body, script_content: script }, { requestId });
      return client.execute(session.request_id, params, { noCache, maxAge, requestId });
    },
    sessions: {
      list: (query = {}) => send('GET', () => api.GET('/api/v1/sessions', { params: { query } })),
      get: (requestId) => send('GET', () => api.GET('/api/v1/sessions/{requestId}', { params: { path: { requestId } } })),
      update: (requestId, body) => send('PATCH', () => api.PATCH('/api/v1/sessions/{requestId}', { params: { path: { requestId } }, body })),
      extend: (requestId, expiresAt) => client.sessions.update(requestId, { expires_at: typeof expiresAt === 'string' ? expiresAt : expiresAt.toISOString() }),
      delete: (requestId) => send('DELETE', () => api.DELETE('/api/v1/sessions/{requestId}', { params: { path: { requestId } } })),
    },
    executions: (requestId, paging = {}) => send('GET', () => api.GET('/api/v1/sessions/{requestId}/executions', { params: { path: { requestId }, query: paging } })),
    functions: {
      list: (query = {}) => send('GET', () => api.GET('/api/v1/functions', { params: { query } })),
      get: (languageTitle) => send('GET', () => api.GET('/api/v1/functions/{languageTitle}', { params: { path: { languageTitle } } })),
      register: (body) => send('POST', () => api.POST('/api/v1/functions', { body })),
      update: (languageTitle, body) => send('PATCH', () => api.PATCH('/api/v1/functions/{languageTitle}', { params: { path: { languageTitle } }, body })),
      delete: (languageTitle) => send('DELETE', () => api.DELETE('/api/v1/functions/{languageTitle}', { params: { path: { languageTitle } } })),
      stats: (languageTitle, window) => send('GET', () => api.GET('/api/v1/functions/{languageTitle}/stats', { params: { path: { languageTitle }, query: window ? { window } : {} } })),
    },
    // A 503 whose body is the report (not an envelope) is the service saying it is down: an answer, not an error.
    health: () => send('GET', () => api.GET('/health'), (response, body) => (response.status === 503 && isHealthReport(body) ? body : undefined)),
    runtimes: () => send('GET', () => api.GET('/api/v1/runtimes')),
  };
  return client;
}

function isHealthReport(body: unknown): body is HealthReport {
  return typeof body === 'object' && body !== null && !('error' in body) && 'status' in body && typeof body.status === 'string';
}
