/**
 * Property-based fuzzing of the HTTP API (fast-check), in-process with `app.inject()`, on one
 * service with a fresh test database. Every route gets malformed bodies (arbitrary text, arbitrary
 * JSON, deep nesting, strings up to and beyond the body limit, `__proto__`/`constructor` keys),
 * malformed headers (Language-Title, Content-Type, X-Request-ID, X-Cache-Control, Authorization,
 * Origin) and malformed ids, paths and query strings. The properties, for every answer:
 *
 * - its status is below 500 (nothing the fuzzer sends may make a script throw or time out: the
 *   sessions it executes only `return`, and it sends no valid python-/rust- title with a script,
 *   which would start the Python sandbox or the Rust compiler);
 * - at 400 or above it is the contract's envelope `{ error: { code, message, details } }` with a
 *   code of the contract's table (plus CONFLICT and SERVICE_UNAVAILABLE) and that code's status
 *   (INVALID_REQUEST may be 413);
 * - the service logged nothing at warn/error level while answering it;
 * and afterwards: /health is 200, initialize + execute of `return 1;` work, the write-behind
 * writers logged no warning and every request_logs row reached PostgreSQL.
 *
 * The service runs with auth on (HS256) and anonymous callers granted every scope, so that
 * Authorization garbage is parsed (401) while anonymous bodies still reach the handlers; rate
 * limits are on, with limits the run never reaches; CORS allows one origin. It is started here
 * (not with startTestService) to capture its log: a failure shows the stack the service logged.
 *
 * Bugs found and still open are listed in KNOWN_BUGS / KNOWN_BACKGROUND_BUGS and pinned at the
 * end ("pinned counterexamples"); the run is strict, so it fails while they are open.
 * FUZZ_TOLERATE_KNOWN=1 accepts answers that match a known bug (and skips the pinned ones), to
 * hunt for other bugs meanwhile.
 *
 * Each property has its own seed (printed with its answers and in a failure); replay one with
 * `FUZZ_SEED=<base seed> FUZZ_PATH=<path> node scripts/run-tests.mjs fuzz`.
 * `FUZZ_RUNS=<n>` changes the runs per property (default 200; initialize and execute get 100 more).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import type { HTTPMethods } from 'fastify';
import { SignJWT } from 'jose';
import { loadConfig } from '../../src/config/config.js';
import { ERROR_STATUS } from '../../src/errors/service-error.js';
import { startService, type RunningService } from '../../src/main/service.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { RUST_TEST_CACHE_DIR } from '../helpers/rust.js';
import { call, execute, initialize } from '../helpers/service.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const BASE_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
const REPLAY_PATH = process.env.FUZZ_PATH;

const MAX_SCRIPT_SIZE = 4096;
/** MAX_BODY_BYTES as config.ts derives it from MAX_SCRIPT_SIZE. */
const BODY_LIMIT = MAX_SCRIPT_SIZE * 2 + 65_536;
const JWT_SECRET = 'fuzz-secret-0123456789-abcdefghijklmnop';
const USER = 'fuzz-user';

/** The contract's codes (section 4) and the two this service adds. */
const CODES = new Set(['INVALID_REQUEST', 'INVALID_PARAMS', 'COMPILATION_ERROR', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED', 'RUNTIME_ERROR', 'INTERNAL_ERROR', 'RUNTIME_UNAVAILABLE', 'TIMEOUT', 'CONFLICT', 'SERVICE_UNAVAILABLE']);

interface FuzzRequest {
  method: HTTPMethods;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

interface FuzzResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/**
 * Open bugs this fuzzer found (reported to the lead; src is not changed here). The run is strict: each
 * still fails it, with the bug named in the message. `FUZZ_TOLERATE_KNOWN=1` accepts answers that
 * match one of them, to look for other bugs meanwhile. Delete an entry when its fix lands.
 */
const KNOWN_BUGS: readonly { id: string; what: string; matches: (request: FuzzRequest, response: FuzzResponse, logs: readonly string[]) => boolean }[] = [
  // None open: unstorable strings, unbounded JSON depth and the CORS preflight answer are fixed;
  // their counterexamples stay pinned below.
];
/** Known open bugs that show only in the write-behind writers' log (no request sees them). */
const KNOWN_BACKGROUND_BUGS: readonly { id: string; what: string; matches: (line: string) => boolean }[] = [
  // None open: the request-log poison row is fixed; its counterexample stays pinned below.
];
const TOLERATE_KNOWN = /^(1|true|yes)$/i.test(process.env.FUZZ_TOLERATE_KNOWN ?? '');
/** Log lines of answers already reported by a failing property or tolerated as known bugs (the final check looks at the rest). */
const accountedLogLines = new Set<string>();

/** Log lines (JSON) the service wrote at warn level or above. */
const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logLines.push(line);
    done();
  },
});

/** A line of the write-behind writers (request_logs, session counters), logged on their own timers. */
function isBackgroundLine(line: string): boolean {
  return line.includes('"writer":"');
}

function short(text: string, max = 600): string {
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

function describeRequest(request: FuzzRequest): string {
  return JSON.stringify({ ...request, payload: request.payload === undefined ? undefined : short(request.payload) });
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Characters a header value can carry over HTTP/1.1 (Node decodes header bytes as latin1). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.constant(0x09) },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
).map((code) => String.fromCharCode(code));
const headerValue = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 80 }),
  fc.string({ unit: headerChar, minLength: 200, maxLength: 10_000 }),
  fc.constantFrom('', ' ', '\t', 'null', 'undefined', '{}', '[]', '0', '-1', '__proto__', 'constructor', '%00', '\\u0000'),
);

/** Strings of every kind: printable, any code point (NUL included), control characters, lone surrogates. */
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary-ascii' }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', '__proto__', 'constructor', 'prototype', 'toString', '%', '%00', '../..', 'null'),
);

const title = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/);
/** Valid titles only for Node.js: a python-/rust- title with a script would start the Python sandbox or the Rust compiler. */
const nodeTitle = fc.oneof(title.map((t) => `nodejs-${t}`), title.map((t) => `js-${t}`));
const languageTitle = fc.oneof(
  { weight: 12, arbitrary: nodeTitle },
  { weight: 2, arbitrary: headerValue },
  {
    weight: 2,
    arbitrary: fc.constantFrom('-', 'nodejs-', 'nodejs', 'js-', 'ruby-x', 'go-main', 'NODEJS-x', 'Nodejs-x', 'nodejs--', 'nodejs-a b', 'nodejs-é', `nodejs-${'a'.repeat(130)}`, 'nodejs-calculator', 'nodejs-../../etc/passwd', 'python', 'rust'),
  },
);

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const jsonValueUnicode = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });
const anyJson = fc.oneof(jsonValue, jsonValueUnicode);

/** JSON text nested `depth` levels deep (built as text: no recursion anywhere in the test). */
function nestedText(depth: number, kind: 'array' | 'object', leaf = '1'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}
const deepJsonText = fc
  .tuple(fc.oneof(fc.integer({ min: 30, max: 40 }), fc.integer({ min: 41, max: 2000 }), fc.integer({ min: 2001, max: 30_000 })), fc.constantFrom('array' as const, 'object' as const))
  .map(([depth, kind]) => nestedText(depth, kind));

/** A long string near the limits: the script limit, the context limit (64 KiB), the body limit. */
const hugeString = fc
  .tuple(fc.oneof(fc.integer({ min: MAX_SCRIPT_SIZE - 8, max: MAX_SCRIPT_SIZE + 8 }), fc.integer({ min: 60_000, max: BODY_LIMIT + 1024 })), fc.constantFrom('a', 'é', '\u0000', '"', '\\'))
  .map(([n, c]) => c.repeat(Math.ceil(n / Buffer.byteLength(c))));

/** A value for a body field: usually JSON, sometimes deep or huge (a JSON text is spliced in raw). */
type Field = { json: unknown } | { raw: string };
function field(valueArb: fc.Arbitrary<unknown>): fc.Arbitrary<Field> {
  return fc.oneof(
    { weight: 36, arbitrary: valueArb.map((json) => ({ json })) },
    { weight: 2, arbitrary: anyJson.map((json) => ({ json })) },
    { weight: 1, arbitrary: deepJsonText.map((raw) => ({ raw })) },
    { weight: 1, arbitrary: hugeString.map((json) => ({ json })) },
  );
}

/** An object body built from optional fields, as JSON text, with `__proto__`/`constructor` keys spliced in sometimes. */
function objectBody(fields: Record<string, fc.Arbitrary<unknown>>, required: readonly string[]): fc.Arbitrary<string> {
  // Each field is there 5 times in 6 (a required one 19 times in 20); an unknown extra key 1 time in 4; a prototype-poisoning key 1 time in 36.
  const entries = Object.entries(fields).map(([key, arb]) => fc.option(field(arb).map((f) => [key, f] as const), { nil: undefined, freq: required.includes(key) ? 20 : 6 }));
  const extra = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(anyString, anyJson).map(([k, v]) => [k, { json: v }] as const) });
  const poison = fc.constantFrom(
    ...Array<undefined>(35).fill(undefined),
    '"__proto__":{"isAdmin":true}',
    '"__proto__":null',
    '"constructor":{"prototype":{"isAdmin":true}}',
    '"constructor":{"name":"x"}',
    '"prototype":{}',
  );
  return fc.tuple(fc.tuple(...entries), extra, poison).map(([parts, extraPart, poisonPart]) => {
    const texts: string[] = [];
    for (const part of [...parts, extraPart]) {
      if (!part) continue;
      const [key, value] = part;
      texts.push(`${JSON.stringify(key)}:${'raw' in value ? value.raw : (JSON.stringify(value.json) ?? 'null')}`);
    }
    if (poisonPart) texts.splice(texts.length > 0 ? 1 : 0, 0, poisonPart);
    return `{${texts.join(',')}}`;
  });
}

/** Any body: an object of the route's fields, arbitrary JSON, arbitrary text, deep nesting, empty, huge. */
function body(fields: Record<string, fc.Arbitrary<unknown>>, required: readonly string[] = []): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 30, arbitrary: objectBody(fields, required) },
    { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: anyString },
    { weight: 1, arbitrary: deepJsonText },
    { weight: 1, arbitrary: hugeString.map((s) => JSON.stringify({ x: s })) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, '', 'null', '{', '{"a":1}}', '{"a":1,}', "{'a':1}", '\ufeff{}', '{"__proto__":{"a":1}}', '{"constructor":{"prototype":{"a":1}}}') },
  );
}

const contentType = fc.oneof(
  { weight: 24, arbitrary: fc.constant('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined,
      '',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'APPLICATION/JSON',
      'application/jsonx',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain',
      'text/plain; charset=utf-8',
      'application/octet-stream',
      '*/*',
      ';',
      'application/json;;;',
      'application/json; a="b',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

const requestIdHeader = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, fc.stringMatching(/^[A-Za-z0-9._:@/+=-]{1,128}$/), headerValue);
const cacheControl = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  fc.constantFrom('no-cache', 'max-age=0', 'max-age=60', 'no-cache, max-age=5', 'max-age=999999999', 'max-age=9999999999', 'max-age=-1', 'max-age=', 'no-store', ',', ' , '),
  headerValue,
);

/** Authorization: mostly none; valid, scope-less, expired, wrongly signed and `alg: none` tokens; garbage. */
function authorization(tokens: Tokens): fc.Arbitrary<string | undefined> {
  const base64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), maxLength: 60 });
  return fc.oneof(
    { weight: 14, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: fc.constant(`Bearer ${tokens.full}`) },
    { weight: 2, arbitrary: fc.constantFrom(`Bearer ${tokens.none}`, `Bearer ${tokens.other}`, `Bearer ${tokens.expired}`, `Bearer ${tokens.wrongKey}`, `Bearer ${tokens.algNone}`, `Bearer ${tokens.notYet}`, `Bearer ${tokens.noSub}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', 'Bearer', 'Bearer ', 'bearer x.y.z', `Basic ${Buffer.from('admin:admin').toString('base64')}`, `Bearer ${tokens.full} extra`, `Bearer  ${tokens.full}`, `Bearer ${'a'.repeat(9000)}.b.c`, 'Bearer ..', `Bearer ${tokens.full.slice(0, -2)}`),
    },
    { weight: 1, arbitrary: fc.tuple(base64url, base64url, base64url).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`) },
    { weight: 1, arbitrary: headerValue },
  );
}

/** Session ids: known ones, unknown UUIDs, near-UUIDs and garbage (encoded, or raw as a client might send it). */
function sessionId(known: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.constantFrom(...known).map((id) => id.toUpperCase()) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.uuid().map((id) => `${id}x`) },
    { weight: 1, arbitrary: fc.uuid().map((id) => id.replaceAll('-', '')) },
    { weight: 2, arbitrary: pathSegment },
  );
}

/** Visible ASCII but `\\` (which URL parsing turns into `/`, making `//host` out of a path): what a raw request-target can hold. */
const urlChar = fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x5c).map((c) => String.fromCharCode(c));

/** A path segment: encoded arbitrary text, or raw text with characters a URL should not carry. */
const pathSegment = fc.oneof(
  anyString.map(safeEncode),
  fc.string({ unit: urlChar, minLength: 1, maxLength: 60 }).filter((p) => !p.startsWith('/')),
  fc.constantFrom('', '%', '%zz', '%00', '%2F', '..', '.', '%2e%2e', 'a/b', '?', '#', ';', 'null', '__proto__', 'constructor', 'a'.repeat(150), 'a'.repeat(5000)),
);

function safeEncode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '?'));
  }
}

const queryString = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof({ weight: 4, arbitrary: fc.constantFrom('language', 'user_id', 'type', 'page', 'per_page') }, { weight: 1, arbitrary: anyString.map(safeEncode) }, { weight: 1, arbitrary: fc.constantFrom('page[]', 'language[0]', '__proto__', 'constructor', 'a.b', '') }),
          fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom('nodejs', 'python', 'rust', 'predefined', 'dynamic', '1', '2', '20', '100', '101', '0', '-1', '1e3', '0x10', '9007199254740993', '99999999999999999999', USER, '') },
            { weight: 2, arbitrary: anyString.map(safeEncode) },
            { weight: 1, arbitrary: fc.string({ unit: headerChar, maxLength: 40 }) },
          ),
        ),
        { maxLength: 6 },
      )
      .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
  },
  { weight: 1, arbitrary: fc.string({ unit: headerChar, maxLength: 100 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '&', '=', '&&==', 'page', 'page=', '%', '%zz', 'a=%', `language=${'a'.repeat(200)}`, 'per_page=1&per_page=2') },
);

interface Tokens {
  full: string;
  none: string;
  other: string;
  expired: string;
  notYet: string;
  noSub: string;
  wrongKey: string;
  algNone: string;
}

async function makeTokens(): Promise<Tokens> {
  const key = new TextEncoder().encode(JWT_SECRET);
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, options: { sub?: string; exp?: number; nbf?: number; key?: Uint8Array } = {}): Promise<string> => {
    let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
    if (options.sub !== undefined) jwt = jwt.setSubject(options.sub);
    jwt = jwt.setExpirationTime(options.exp ?? now + 3600);
    if (options.nbf !== undefined) jwt = jwt.setNotBefore(options.nbf);
    return jwt.sign(options.key ?? key);
  };
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return {
    full: await sign({ scope: 'execute:all read:functions write:functions' }, { sub: USER }),
    none: await sign({}, { sub: 'fuzz-nobody' }),
    other: await sign({ scope: 'execute:nodejs read:functions' }, { sub: 'fuzz-other' }),
    expired: await sign({ scope: 'execute:all' }, { sub: USER, exp: now - 3600 }),
    notYet: await sign({ scope: 'execute:all' }, { sub: USER, nbf: now + 3600 }),
    noSub: await sign({ scope: 'execute:all' }),
    wrongKey: await sign({ scope: 'execute:all' }, { sub: USER, key: new TextEncoder().encode('another-secret-0123456789-abcdefghijkl') }),
    algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: USER, scope: 'execute:all', exp: now + 3600 })}.`,
  };
}

// ---------------------------------------------------------------------------------------------

describe('API fuzzing (fast-check, every route)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let tokens: Tokens;
  let headersArb: fc.Arbitrary<Record<string, string>>;
  let propertyIndex = 0;
  /** Sessions executes are fuzzed against: they only `return`, so no execute can be a 5xx. */
  const executable: string[] = [];
  /**
   * Sessions PATCH and GET are fuzzed against (a PATCH may set timeout_ms: 1 or retain_session:
   * false). `other` holds a live session too: the execute property runs before the PATCH one.
   */
  const patchable: string[] = [];
  /** Sessions DELETE is fuzzed against. */
  const deletable: string[] = [];
  /** Ended, failed and other users' sessions: 404 material. */
  const other: string[] = [];

  before(async () => {
    db = await createTestDatabase();
    const config = loadConfig(
      {
        DATABASE_URL: db.url,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'lm-test-data-')),
        RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR,
        LOG_FLUSH_INTERVAL_MS: '20',
        NODEJS_POOL_SIZE: '2',
        PYTHON_POOL_SIZE: '0',
        RUST_POOL_SIZE: '1',
        RUNTIME_TIMEOUT_SECONDS: '5',
        MAX_SCRIPT_SIZE: String(MAX_SCRIPT_SIZE),
        AUTH_JWT_SECRET: JWT_SECRET,
        AUTH_ANONYMOUS_SCOPES: 'execute:all read:functions write:functions',
        RATE_LIMIT_ENABLED: 'true',
        RATE_LIMIT_EXECUTE_PER_MINUTE: '10000000',
        RATE_LIMIT_EXECUTE_ANONYMOUS_PER_MINUTE: '10000000',
        RATE_LIMIT_FUNCTIONS_PER_MINUTE: '10000000',
        // Fuzzed Authorization headers fail by the thousand from one address: that bound is tested on its own (operations-limits).
        AUTH_FAILURES_PER_MINUTE: '0',
        CORS_ORIGINS: 'https://app.example',
        // A poisoned request-log writer (see KNOWN_BACKGROUND_BUGS) would hold the stop for the default 10 s.
        SHUTDOWN_GRACE_MS: '2000',
      },
      'test',
    );
    service = await startService(config, createLogger('warn', logSink));
    tokens = await makeTokens();
    const auth = { authorization: `Bearer ${tokens.full}` };

    const init = async (script: string, headers: Record<string, string> = {}, context: Record<string, unknown> = {}, lt = 'nodejs-fuzz'): Promise<string> => {
      const res = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: script, context }, headers: { 'language-title': lt, ...headers } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.request_id as string;
    };
    executable.push(
      await init('return event.params;'),
      await init('module.exports = async (event) => ({ keys: Object.keys(event.params ?? {}).length });', auth),
      await init('exports.handler = (event, callback) => callback(null, typeof event.params);'),
    );
    // A registered function with a params schema: executes of its own script are validated (INVALID_PARAMS).
    const registered = await call(service, 'POST', '/api/v1/functions', {
      body: {
        language_title: 'nodejs-fuzz_schema',
        script_content: 'return event.params.a ?? null;',
        schema: { params: { type: 'object', properties: { a: { type: 'number' }, s: { type: 'string', maxLength: 10 } }, required: ['a'] } },
        examples: [{ params: { a: 1 } }],
      },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const fromFunction = await call(service, 'POST', '/api/v1/initialize', { body: {}, headers: { 'language-title': 'nodejs-fuzz_schema' } });
    assert.equal(fromFunction.status, 200, JSON.stringify(fromFunction.body));
    executable.push(fromFunction.body.request_id as string, await init('return 1;', {}, { retain_session: false }));

    patchable.push(await init('return 2;'), await init('return 3;', auth), await init('return 4;', {}, { env: 'x', password: 'p' }));
    for (let i = 0; i < 4; i++) deletable.push(await init(`return ${i};`, i % 2 === 0 ? auth : {}));
    const ended = await init('return 5;');
    assert.equal((await call(service, 'DELETE', `/api/v1/sessions/${ended}`)).status, 200);
    const failed = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return (' }, headers: { 'language-title': 'nodejs-fuzz' } });
    assert.equal(failed.status, 400);
    other.push(ended, failed.body.error.details.request_id as string, await init('return 6;', { authorization: `Bearer ${tokens.other}` }));

    headersArb = fc
      .record({
        'content-type': contentType,
        authorization: authorization(tokens),
        'x-request-id': requestIdHeader,
        'x-cache-control': cacheControl,
        'language-title': fc.option(languageTitle, { nil: undefined, freq: 4 }),
        origin: fc.option(fc.constantFrom('https://app.example', 'https://evil.example', 'null', ''), { nil: undefined, freq: 6 }),
        extra: fc.option(
          fc.tuple(
            fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.constantFrom('content-encoding', 'x-forwarded-for', 'host', 'expect', 'accept', 'accept-encoding', 'connection', 'cookie', 'x-api-key')),
            fc.oneof(headerValue, fc.constantFrom('gzip', 'br', 'deflate, gzip', '100-continue', 'close', '127.0.0.1', '::1, 10.0.0.1', 'text/html')),
          ),
          { nil: undefined, freq: 3 },
        ),
      })
      .map(({ extra, ...named }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(named)) if (value !== undefined) headers[name] = value;
        if (extra && !(extra[0] in headers) && extra[0] !== 'content-length' && extra[0] !== 'transfer-encoding') headers[extra[0]] = extra[1];
        return headers;
      });
  });

  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  async function send(request: FuzzRequest): Promise<{ response: FuzzResponse; logs: string[] }> {
    const mark = logLines.length;
    const res = await service.app.inject({ method: request.method, url: request.url, headers: request.headers, ...(request.payload !== undefined ? { payload: request.payload } : {}) });
    // The write-behind writers log on their own timers: their lines belong to no request (the final test checks them).
    return { response: { status: res.statusCode, headers: res.headers, body: res.body }, logs: logLines.slice(mark).filter((l) => !isBackgroundLine(l)) };
  }

  /** The properties every answer must have; a violation that is a known open bug is labelled (and tolerated with FUZZ_TOLERATE_KNOWN=1). */
  function check(request: FuzzRequest, response: FuzzResponse, logs: readonly string[]): void {
    try {
      checkStrict(request, response, logs);
    } catch (error) {
      for (const line of logs) accountedLogLines.add(line);
      const known = KNOWN_BUGS.find((bug) => bug.matches(request, response, logs));
      if (!known) throw error;
      if (TOLERATE_KNOWN) return;
      throw new Error(`${(error as Error).message}\n(known open bug "${known.id}": ${known.what})`);
    }
  }

  function checkStrict(request: FuzzRequest, response: FuzzResponse, logs: readonly string[]): void {
    const where = () => `\nrequest: ${describeRequest(request)}\nresponse: ${response.status} ${short(response.body)}\nservice log:\n${logs.map((l) => short(l, 4000)).join('\n') || '(nothing)'}`;
    assert.ok(response.status < 500, `status ${response.status}${where()}`);
    assert.equal(logs.length, 0, `the service logged at warn/error level${where()}`);
    if (response.status < 400 || request.method === 'HEAD') return;
    assert.match(String(response.headers['content-type'] ?? ''), /^application\/json/, `an error answer that is not JSON${where()}`);
    let parsed: unknown;
    assert.doesNotThrow(() => (parsed = JSON.parse(response.body)), `an error answer that does not parse${where()}`);
    const error = (parsed as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown; details?: unknown } | undefined;
    assert.ok(error !== null && typeof error === 'object' && !Array.isArray(error), `no error envelope${where()}`);
    assert.equal(typeof error.code, 'string', `error.code is not a string${where()}`);
    assert.ok(CODES.has(error.code as string), `error.code ${String(error.code)} is not in the contract's table${where()}`);
    assert.equal(typeof error.message, 'string', `error.message is not a string${where()}`);
    assert.ok(error.details !== null && typeof error.details === 'object' && !Array.isArray(error.details), `error.details is not an object${where()}`);
    const expected = ERROR_STATUS[error.code as keyof typeof ERROR_STATUS];
    assert.ok(response.status === expected || (error.code === 'INVALID_REQUEST' && response.status === 413), `status ${response.status} for ${String(error.code)} (expected ${expected})${where()}`);
  }

  /** Runs one property: `numRuns` requests from `requests`, each checked; reports what the answers were. */
  async function fuzz(t: TestContext, requests: fc.Arbitrary<FuzzRequest>, numRuns = RUNS): Promise<void> {
    const seed = (BASE_SEED + propertyIndex++) | 0;
    const outcomes = new Map<string, number>();
    try {
      await fc.assert(
        fc.asyncProperty(requests, async (request) => {
          const { response, logs } = await send(request);
          const code = response.status >= 400 ? (/"code":"([A-Z_]+)"/.exec(response.body)?.[1] ?? '?') : '';
          const key = `${response.status}${code ? ` ${code}` : ''}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          check(request, response, logs);
        }),
        // The time limit bounds shrinking too: a failure found is reported with the smallest case reached by then.
        { seed, numRuns, interruptAfterTimeLimit: 20_000, ...(REPLAY_PATH !== undefined ? { path: REPLAY_PATH } : {}) },
      );
    } catch (error) {
      throw new Error(`replay: FUZZ_SEED=${BASE_SEED} (the base seed; this property's seed is ${seed}), plus FUZZ_PATH=<path> to go straight to the counterexample\n${(error as Error).message}`, { cause: error });
    }
    const summary = [...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`);
    t.diagnostic(`seed ${seed}, ${numRuns} runs; answers ${summary.join(', ')}`);
  }

  function withHeaders(build: (headers: Record<string, string>) => fc.Arbitrary<FuzzRequest>): fc.Arbitrary<FuzzRequest> {
    return headersArb.chain(build);
  }

  it(`uses base seed ${BASE_SEED} (replay: FUZZ_SEED=${BASE_SEED})`, () => {
    assert.ok(Number.isInteger(BASE_SEED));
  });

  it('POST /api/v1/initialize', { timeout: 120_000 }, async (t) => {
    const scripts = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('return 1;', 'return event.params;', 'module.exports = async (event) => event.params;', 'exports.handler = () => null;', 'module.exports = (e, cb) => cb(null, 1);', 'await 1; return 2;') },
      { weight: 2, arbitrary: fc.constantFrom('return (', '}{', 'import fs from "fs";', 'return require("fs");', ' ', '\u0000', 'return 1;\u0000', '/*', '`${') },
      { weight: 2, arbitrary: anyString },
      { weight: 1, arbitrary: anyJson },
    );
    /** Mostly a plausible context: the fields the service reads, usually well typed. */
    const typed = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 9, arbitrary: good }, { weight: 1, arbitrary: anyJson });
    const context = fc.oneof(
      { weight: 1, arbitrary: anyJson },
      {
        weight: 5,
        arbitrary: fc.record(
          {
            env: anyString,
            user_id: typed(anyString),
            timeout_ms: typed(fc.integer({ min: 1, max: 60_000 })),
            retain_session: typed(fc.boolean()),
            cache: typed(fc.boolean()),
            compile_options: typed(fc.record({ optimization_level: fc.constantFrom('release', 'debug'), features: fc.array(fc.string()) })),
            password: anyString,
            api_key: anyString,
            nested: jsonValue,
          },
          { requiredKeys: [] },
        ),
      },
    );
    await fuzz(
      t,
      withHeaders((headers) =>
        fc.tuple(
          fc.oneof({ weight: 12, arbitrary: nodeTitle }, { weight: 3, arbitrary: languageTitle }, { weight: 1, arbitrary: fc.constant(undefined) }),
          body({ script_content: scripts, context, compile_options: typed(fc.record({ optimization_level: fc.constantFrom('release', 'debug', 'O9'), features: fc.array(fc.string()) }, { requiredKeys: [] })) }, ['script_content']),
        ).map(([lt, payload]) => {
          const { 'language-title': _drop, ...rest } = headers;
          return { method: 'POST' as const, url: '/api/v1/initialize', headers: { ...rest, ...(lt !== undefined ? { 'language-title': lt } : {}) }, ...(payload !== undefined ? { payload } : {}) };
        }),
      ),
      RUNS + 100,
    );
  });

  it('POST /api/v1/execute/:request_id', { timeout: 120_000 }, async (t) => {
    const params = fc.oneof({ weight: 3, arbitrary: anyJson }, { weight: 2, arbitrary: fc.record({ a: fc.oneof(fc.double(), fc.integer(), anyJson), s: anyString }, { requiredKeys: [] }) });
    await fuzz(
      t,
      withHeaders((headers) =>
        fc
          .tuple(sessionId([...executable, ...other]), fc.oneof({ weight: 4, arbitrary: body({ params }) }, { weight: 1, arbitrary: fc.constant('{}') }), fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryString }))
          .map(([id, payload, query]) => ({ method: 'POST' as const, url: `/api/v1/execute/${id}${query ? `?${query}` : ''}`, headers, ...(payload !== undefined ? { payload } : {}) })),
      ),
      RUNS + 100,
    );
  });

  it('GET and PATCH /api/v1/sessions/:request_id', { timeout: 120_000 }, async (t) => {
    const soon = () => new Date(Date.now() + 3_600_000).toISOString();
    const expiresAt = fc.oneof(
      { weight: 3, arbitrary: fc.constant(null).map(soon) },
      fc.constantFrom('2020-01-01T00:00:00Z', '2999-01-01T00:00:00Z', 'tomorrow', '', '2026-13-45T99:99:99Z', '1e9', '0000-00-00T00:00:00Z', '+275760-09-13T00:00:00.000Z'),
      fc.constant(null).map(soon),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      anyJson,
    );
    const patchContext = fc.oneof(
      anyJson,
      fc.record({ env: anyString, user_id: fc.oneof(anyString, anyJson), retain_session: fc.oneof(fc.boolean(), anyJson), timeout_ms: fc.oneof(fc.integer({ min: 1, max: 5000 }), anyJson), token: anyString, big: hugeString }, { requiredKeys: [] }),
    );
    const query = fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryString });
    await fuzz(
      t,
      withHeaders((headers) =>
        fc
          .tuple(fc.constantFrom('GET' as const, 'PATCH' as const), sessionId([...patchable, ...other]), body({ expires_at: expiresAt, context: patchContext }), query)
          .map(([method, id, payload, query]) => ({ method, url: `/api/v1/sessions/${id}${query ? `?${query}` : ''}`, headers, ...(payload !== undefined ? { payload } : {}) })),
      ),
    );
  });

  it('DELETE /api/v1/sessions/:request_id', { timeout: 120_000 }, async (t) => {
    await fuzz(
      t,
      withHeaders((headers) =>
        fc
          .tuple(sessionId([...deletable, ...other]), fc.option(body({}), { nil: undefined, freq: 2 }))
          .map(([id, payload]) => ({ method: 'DELETE' as const, url: `/api/v1/sessions/${id}`, headers, ...(payload !== undefined ? { payload } : {}) })),
      ),
      Math.max(50, Math.round(RUNS / 2)),
    );
  });

  it('GET /api/v1/functions (query strings)', { timeout: 120_000 }, async (t) => {
    await fuzz(t, withHeaders((headers) => queryString.map((query) => ({ method: 'GET' as const, url: `/api/v1/functions${query ? `?${query}` : ''}`, headers }))));
  });

  it('GET /api/v1/functions/:language_title', { timeout: 120_000 }, async (t) => {
    const segment = fc.oneof(
      nodeTitle,
      title.map((t) => `python-${t}`),
      title.map((t) => `rust-${t}`),
      fc.constantFrom('nodejs-calculator', 'python-text_processor', 'rust-data_validator', 'nodejs-fuzz_schema'),
      pathSegment,
    );
    await fuzz(t, withHeaders((headers) => fc.tuple(segment, queryString).map(([lt, query]) => ({ method: 'GET' as const, url: `/api/v1/functions/${lt}${query ? `?${query}` : ''}`, headers }))));
  });

  it('POST /api/v1/functions', { timeout: 120_000 }, async (t) => {
    const schemaPart = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom({ type: 'object', properties: { a: { type: 'number' } }, required: ['a'] }, { type: 'number' }, {}, { type: 'array', items: { type: 'string' } }) },
      { weight: 2, arbitrary: fc.record({ type: fc.constantFrom('object', 'string', 'integer', 'integer', 'nope'), maxLength: fc.oneof({ weight: 4, arbitrary: fc.nat() }, { weight: 1, arbitrary: anyJson }), format: fc.constantFrom('email', 'uri', 'date-time', 'nope'), $ref: fc.constantFrom('#', '#/definitions/x', 'http://example.com/s.json', '/etc/passwd') }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: anyJson },
    );
    const jsonSchema = fc.oneof({ weight: 8, arbitrary: fc.record({ params: schemaPart, result: schemaPart }, { requiredKeys: [] }) }, { weight: 1, arbitrary: anyJson });
    await fuzz(
      t,
      withHeaders((headers) =>
        body({
          language_title: fc.oneof({ weight: 12, arbitrary: nodeTitle }, { weight: 1, arbitrary: languageTitle }, { weight: 1, arbitrary: anyJson }),
          script_content: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('return 1;', 'return event.params;', 'module.exports = async () => 1;') }, fc.constantFrom('return (', '', ' '), anyString, anyJson),
          description: fc.oneof({ weight: 6, arbitrary: anyString }, { weight: 1, arbitrary: anyJson }),
          schema: jsonSchema,
          examples: fc.oneof({ weight: 3, arbitrary: fc.array(anyJson, { maxLength: 4 }) }, { weight: 1, arbitrary: anyJson }),
          tags: fc.oneof({ weight: 3, arbitrary: fc.array(fc.string({ maxLength: 70 }), { maxLength: 34 }) }, { weight: 1, arbitrary: fc.array(anyString, { maxLength: 4 }) }, { weight: 1, arbitrary: anyJson }),
          cache: fc.oneof({ weight: 3, arbitrary: fc.boolean() }, { weight: 1, arbitrary: anyJson }),
        }, ['language_title', 'script_content']).map((payload) => ({ method: 'POST' as const, url: '/api/v1/functions', headers, ...(payload !== undefined ? { payload } : {}) })),
      ),
    );
  });

  it('GET /health, GET /metrics, unknown routes and methods', { timeout: 120_000 }, async (t) => {
    const method = fc.constantFrom<HTTPMethods>('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS');
    const path = fc.oneof(
      fc.constantFrom('/health', '/metrics', '/health/', '/', '/api', '/api/v1', '/api/v1/', '/api/v2/initialize', '/API/V1/INITIALIZE', '/api/v1/initialize/', '/api/v1/execute', '/api/v1/execute/', '/api/v1/sessions', '/api/v1/sessions/', '/api/v1/functions/', '//api//v1//functions', '/api/v1/../../health', '/%2e%2e/health', '/api/v1/functions/a/b', '/favicon.ico', '/.env', '/api/v1/execute/x/y'),
      pathSegment.map((s) => `/${s}`),
      fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
    );
    await fuzz(
      t,
      withHeaders((headers) =>
        fc
          .tuple(method, path, queryString, fc.option(body({}), { nil: undefined, freq: 3 }), fc.option(fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'x'), { nil: undefined }))
          .map(([m, p, query, payload, preflight]) => ({
            method: m,
            url: `${p}${query ? `?${query}` : ''}`,
            headers: { ...headers, ...(m === 'OPTIONS' && preflight ? { 'access-control-request-method': preflight } : {}) },
            ...(payload !== undefined && m !== 'GET' && m !== 'HEAD' ? { payload } : {}),
          })),
      ),
    );
  });

  it('is still healthy afterwards: /health, initialize + execute, request logs written', { timeout: 60_000 }, async () => {
    const health = await call(service, 'GET', '/health');
    assert.equal(health.status, 200, JSON.stringify(health.body));
    assert.equal(health.body.components.postgres.status, 'up');
    assert.equal(health.body.components.runtimes.nodejs.status, 'up');

    const init = await initialize(service, 'nodejs-after_fuzz', { script_content: 'return 1;' });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const run = await execute(service, init.body.request_id, {});
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.result, 1);

    const mine = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return 1;' }, headers: { 'language-title': 'nodejs-after_fuzz', authorization: `Bearer ${tokens.full}` } });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    const runMine = await call(service, 'POST', `/api/v1/execute/${mine.body.request_id}`, { body: { params: {} }, headers: { authorization: `Bearer ${tokens.full}` } });
    assert.equal(runMine.body.result, 1);

    // Nothing else went wrong meanwhile: no warn/error line that no failing property already showed.
    const unexplained = logLines.filter((l) => /"level":(40|50|60)/.test(l) && !accountedLogLines.has(l));
    const unknown = TOLERATE_KNOWN ? unexplained.filter((l) => !KNOWN_BACKGROUND_BUGS.some((bug) => bug.matches(l))) : unexplained;
    const label = (l: string): string => {
      const known = KNOWN_BACKGROUND_BUGS.find((bug) => bug.matches(l));
      return `${short(l, 2000)}${known ? `\n(known open bug "${known.id}": ${known.what})` : ''}`;
    };
    assert.deepEqual(unknown.slice(0, 5).map(label), [], `${unknown.length} warn/error lines in the service log`);

    // Every request_logs row of the run reached PostgreSQL: no batch was poisoned by what the fuzzer sent.
    await service.flush();
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM public.request_logs');
    assert.ok(Number(rows[0]?.n) > 0);
    if (!TOLERATE_KNOWN) assert.equal(await queuedLogRows(), 0, 'request_logs rows still queued after a flush');
  });

  /** lambda_log_queue_depth{writer="request_logs"} from /metrics. */
  async function queuedLogRows(): Promise<number> {
    const metrics = await service.app.inject({ method: 'GET', url: '/metrics' });
    const line = metrics.body.split('\n').find((l) => l.startsWith('lambda_log_queue_depth{writer="request_logs"}'));
    return Number(line?.split(' ')[1]);
  }

  /**
   * Counterexamples the fuzzer (or a reading of the code) found, pinned: each asserts the property
   * for one bug's smallest request, so it fails while the bug is open and guards the fix whatever
   * the seed. `router-errors` is fixed (Fastify's frameworkErrors); the others are open (see
   * KNOWN_BUGS). Skipped with FUZZ_TOLERATE_KNOWN=1. The request-log poisoning one runs last: once
   * it reproduces, no request_logs row is written any more in this service.
   */
  describe('pinned counterexamples', () => {
    const J = { 'content-type': 'application/json' };
    const pinned: { bug: string; request: FuzzRequest }[] = [
      { bug: 'router-errors', request: { method: 'GET', url: '/api/v1/sessions/%', headers: {} } },
      { bug: 'router-errors', request: { method: 'GET', url: `/api/v1/sessions/${'a'.repeat(101)}`, headers: {} } },
      { bug: 'cors-invalid-preflight', request: { method: 'OPTIONS', url: '/api/v1/initialize', headers: {} } },
      { bug: 'unstorable-strings', request: { method: 'GET', url: '/api/v1/functions?language=%00', headers: {} } },
      { bug: 'unstorable-strings', request: { method: 'GET', url: '/api/v1/functions?user_id=a%00', headers: {} } },
      { bug: 'unstorable-strings', request: { method: 'POST', url: '/api/v1/functions', headers: J, payload: '{"language_title":"nodejs-pin_nul_description","script_content":"return 1;","description":"a\\u0000"}' } },
      { bug: 'unstorable-strings', request: { method: 'POST', url: '/api/v1/functions', headers: J, payload: '{"language_title":"nodejs-pin_nul_tag","script_content":"return 1;","tags":["\\u0000"]}' } },
      { bug: 'unstorable-strings', request: { method: 'POST', url: '/api/v1/functions', headers: J, payload: '{"language_title":"nodejs-pin_surrogate","script_content":"return 1;","examples":["\\ud800"]}' } },
      { bug: 'unstorable-strings', request: { method: 'POST', url: '/api/v1/initialize', headers: { ...J, 'language-title': 'nodejs-pin' }, payload: '{"script_content":"return 1;","context":{"user_id":"a\\u0000"}}' } },
      { bug: 'unstorable-strings', request: { method: 'POST', url: '/api/v1/initialize', headers: { ...J, 'language-title': 'nodejs-pin' }, payload: '{"script_content":"return 1;","context":{"k":"\\ud800"}}' } },
      { bug: 'unbounded-json-depth', request: { method: 'POST', url: '/api/v1/initialize', headers: { ...J, 'language-title': 'nodejs-pin' }, payload: `{"script_content":"return 1;","compile_options":${nestedText(5000, 'object')}}` } },
      { bug: 'unbounded-json-depth', request: { method: 'POST', url: '/api/v1/functions', headers: J, payload: `{"language_title":"nodejs-pin_deep_schema","script_content":"return 1;","schema":{"params":${'{"not":'.repeat(2000)}{}${'}'.repeat(2000)}}}` } },
      { bug: 'unbounded-json-depth', request: { method: 'POST', url: '/api/v1/functions', headers: J, payload: `{"language_title":"nodejs-pin_deep_examples","script_content":"return 1;","examples":${nestedText(20_000, 'array')}}` } },
    ];
    for (const { bug, request } of pinned) {
      it(`${bug}: ${request.method} ${short(request.url, 60)}${request.payload ? ` ${short(request.payload, 90)}` : ''}`, { skip: TOLERATE_KNOWN }, async () => {
        const { response, logs } = await send(request);
        checkStrict(request, response, logs);
      });
    }
    it('redos-params-schema: a params schema whose pattern backtracks in JavaScript is matched in linear time (RE2)', { skip: TOLERATE_KNOWN, timeout: 30_000 }, async () => {
      // ajv ran `pattern` as a JavaScript RegExp on the service's own thread: `^(a+)+$` doubled its
      // backtracking with each character (24 characters took over half a second, 30 about 40 s).
      // Patterns run on RE2 now (src/functions/params-schema.ts); test/exploits/params-schema.test.ts has more.
      const registered = await call(service, 'POST', '/api/v1/functions', {
        body: { language_title: 'nodejs-pin_redos', script_content: 'return 1;', schema: { params: { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } } } },
      });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const session = await call(service, 'POST', '/api/v1/initialize', { body: {}, headers: { 'language-title': 'nodejs-pin_redos' } });
      const refused = await call(service, 'POST', `/api/v1/execute/${session.body.request_id}`, { body: { params: { s: `${'a'.repeat(40)}!` } } });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'INVALID_PARAMS');
      const lookahead = await call(service, 'POST', '/api/v1/functions', {
        body: { language_title: 'nodejs-pin_redos2', script_content: 'return 1;', schema: { params: { type: 'object', patternProperties: { '(?=x)y': { type: 'string' } } } } },
      });
      assert.equal(lookahead.status, 400, 'a pattern RE2 cannot run is refused');
      const safe = await call(service, 'POST', '/api/v1/functions', {
        body: { language_title: 'nodejs-pin_redos3', script_content: 'return 1;', schema: { params: { type: 'object', properties: { s: { type: 'string', pattern: '^[a-z]+$' } } } } },
      });
      assert.equal(safe.status, 201, 'an ordinary pattern is accepted');
    });
    it('request-log-poison-row: a compile error on script_content "\\udfff" still leaves request_logs writable', { skip: TOLERATE_KNOWN }, async () => {
      const poison = await call(service, 'POST', '/api/v1/initialize', { rawBody: '{"script_content":"\\udfff"}', headers: { ...J, 'language-title': 'nodejs-pin_poison' } });
      assert.equal(poison.status, 400);
      const after = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return 1;' }, headers: { 'language-title': 'nodejs-pin_poison' } });
      assert.equal(after.status, 200);
      await service.flush();
      const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM public.request_logs WHERE request_id = $1', [after.body.request_id]);
      assert.equal(Number(rows[0]?.n), 1, `the request_logs row of a later initialize was not written; queued rows: ${await queuedLogRows()}`);
    });
  });
});
