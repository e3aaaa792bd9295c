/**
 * `npm run bench`: warm execute of `return event.params.a + event.params.b;` on one session (and of
 * its Python twin `result = params["a"] + params["b"]`), with
 * request logging on, against the service as `npm start` runs it (compiled, embedded default
 * database unless BENCH_DATABASE_URL is set), beside a bare node:http server that parses the same
 * body and answers a constant, in the same run. Load: autocannon on loopback, 50 connections,
 * bounded in time (warm-ups and probes bounded in count and time).
 *
 * `baseline`: the same Node.js execute on a build of BENCH_BASELINE_REF (default: the last commit
 * before runtime processes, when scripts ran in the service process), from a git worktree under
 * .bench/ built once, measured alternately with the current build (three rounds each, the median
 * of each figure reported), so that the
 * cost of moving untrusted code out of the service is read from one run.
 *
 * `crash`: what a runtime process crash costs: the Node.js runtime process of a warm session killed
 * (SIGKILL) or aborted by a script (V8's fatal error), and the time to the first good answer of
 * that session after it, and until the process is back; with the memory of every runtime process.
 *
 * `remote`: the same Node.js execute through a gRPC runtime service — a runtime server process
 * (dist/src/main/runtime-server-main.js --language nodejs) and a second service pointed at it with
 * NODEJS_RUNTIME_URL — measured right after the in-process figure, then both again with one
 * connection and a bounded number of requests (the hop's own latency, without queueing). The
 * added p50/p99 of the hop (remote minus in-process) go in the table and the JSON.
 *
 * `overload`: a fresh service per connection count (50 and 1,000), one warm Node.js session,
 * uncached executes: answered (200) and shed (429) per second with the p99 of each, request_logs
 * rows written per second, rows queued at the end and the time to drain them, rows lost, peak RSS.
 *
 * Latency percentiles are computed from every 2xx response time (sub-millisecond, unlike
 * autocannon's whole-millisecond histogram).
 *
 * `bundles`: Node.js scripts with an npm dependency (lodash, from a package store under .bench/
 * filled by `npm run packages`): the first initialize of a new one (esbuild bundles it), then cold
 * initialize + first execute of new sessions of it (its bundle cached), spaced 300 ms like the
 * Python rounds, beside the same for a plain script.
 *
 * `numpy`: Python scripts importing numpy (Debian's python3-numpy, PYTHON_SYSTEM_PACKAGES=true):
 * cold initialize + first execute of new sessions, spaced 500 ms (the pool's spare refills in
 * between), on a service with PYTHON_PRELOAD=numpy (its blank workers imported numpy already) and
 * on one without (each session's worker imports it on its first execute); one service at a time.
 *
 * Scenarios can be picked by name: `npm run bench -- nodejs remote` (names: bare nodejs cached
 * bundles python numpy rust remote crash overload; none means all; remote brings nodejs along, its baseline).
 * Prints a Markdown table (pasted into the README) and writes .bench/results.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import autocannon from 'autocannon';

import { loadConfig } from '../src/config/config.js';
import { STABLE_MS } from '../src/rpc/process-supervisor.js';
import { loadProtos } from '../src/rpc/runtime-proto.js';

const root = new URL('..', import.meta.url).pathname;
const DURATION_S = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** The one-connection probes of the gRPC hop: this many requests, and never longer than HOP_MAX_SECONDS. */
const HOP_REQUESTS = Number(process.env.BENCH_HOP_REQUESTS ?? 2000);
const HOP_MAX_SECONDS = 30;
const WARMUP_REQUESTS = Number(process.env.BENCH_WARMUP_REQUESTS ?? 3000);
const WARMUP_MAX_SECONDS = 20;

const SCENARIO_NAMES = ['bare', 'baseline', 'nodejs', 'cached', 'bundles', 'python', 'numpy', 'rust', 'remote', 'crash', 'overload'] as const;
/** The numpy scenario's rounds per service, and the pause between them. */
const NUMPY_ROUNDS = 11;
const NUMPY_SPACING_MS = 500;
/** The overload scenario's connection counts (a service of its own, fresh, so its peak RSS is its own). */
const OVERLOAD_CONNECTIONS = [50, 1000] as const;
/** The build measured as `baseline`: scripts in the service process (issue 11 moved them out). */
const BASELINE_REF = process.env.BENCH_BASELINE_REF ?? '87b96b5611b28ea3b4b35a6cfaf0e24fc15d9c81';
const CRASH_ROUNDS = 5;
/** The baseline build and the current one are measured alternately, this many times each. */
const BASELINE_ROUNDS = 3;
type ScenarioName = (typeof SCENARIO_NAMES)[number];

function selectedScenarios(args: readonly string[]): Set<ScenarioName> {
  const unknown = args.filter((arg) => !(SCENARIO_NAMES as readonly string[]).includes(arg));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario ${unknown.join(', ')}; the names are: ${SCENARIO_NAMES.join(' ')} (none: all)\n`);
    process.exit(2);
  }
  const selected = new Set<ScenarioName>(args.length === 0 ? SCENARIO_NAMES : (args as ScenarioName[]));
  // The hop is remote minus in-process, the baseline beside the current build: measured in the same run.
  if (selected.has('remote') || selected.has('baseline')) selected.add('nodejs');
  return selected;
}

interface Started {
  child: ChildProcess;
  /** What the process printed after "listening on": a URL for the service, host:port for a runtime server. */
  url: string;
}

function start(args: string[], env: Record<string, string>, listening = /listening on (http:\/\/[^\s"]+)/, cwd = root): Promise<Started> {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 60_000);
    const log = process.env.BENCH_LOG_DIR ? createWriteStream(join(process.env.BENCH_LOG_DIR, `${args.at(-1)?.replace(/\W+/g, '_') ?? 'process'}-${child.pid}.log`)) : undefined;
    if (log) {
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
    }
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = listening.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.stdout?.resume();
        resolve({ child, url: m[1] });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

async function stopProcess(started: Started | undefined): Promise<void> {
  if (!started || started.child.exitCode !== null || started.child.signalCode !== null) return;
  const exited = new Promise((resolve) => started.child.on('exit', resolve));
  started.child.kill('SIGTERM');
  const force = setTimeout(() => started.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(force);
}

function kib(status: string, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) : 0;
}

/** RSS of a process, of its PostgreSQL descendants (the embedded default) and of the others (runtime processes). */
function treeRssKiB(pid: number): { self: number; selfPeak: number; children: number; others: number } {
  const status = (p: number): string => {
    try {
      return readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      return '';
    }
  };
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const m = /PPid:\s+(\d+)/.exec(status(Number(name)));
    if (m) parentOf.set(Number(name), Number(m[1]));
  }
  const descendants = (p: number): number[] => [...parentOf].filter(([, pp]) => pp === p).flatMap(([c]) => [c, ...descendants(c)]);
  const own = status(pid);
  const isPostgres = (p: number): boolean => /^Name:\s+postgres/m.test(status(p));
  const all = descendants(pid);
  return {
    self: kib(own, 'VmRSS'),
    selfPeak: kib(own, 'VmHWM'),
    children: all.filter(isPostgres).reduce((sum, c) => sum + kib(status(c), 'VmRSS'), 0),
    others: all.filter((c) => !isPostgres(c)).reduce((sum, c) => sum + kib(status(c), 'VmRSS'), 0),
  };
}

interface Scenario {
  readonly name: ScenarioName;
  readonly label: string;
  readonly url: string;
  readonly headers: Record<string, string>;
}

interface Figures {
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
  /** 2xx answers, and 429 answers (shed by admission control) with their own p99. */
  ok: number;
  shed: number;
  shedP99: number;
  seconds: number;
}

/** Sub-millisecond percentile of sorted samples (nearest rank), in ms with 2 decimals. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const value = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  return Math.round(value * 100) / 100;
}

const MAX_SAMPLES = 2_000_000;

/**
 * One autocannon run, bounded: for `durationS` seconds, or for `amount` requests but never longer
 * than `maxSeconds`. Every 2xx response time is kept (up to MAX_SAMPLES) for exact percentiles.
 */
function load(url: string, body: string, headers: Record<string, string>, bounds: { connections: number; durationS?: number; amount?: number; maxSeconds: number }): Promise<Figures> {
  const samples: number[] = [];
  const shedSamples: number[] = [];
  const started = performance.now();
  let lastResponseAt = started;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: 'POST',
        connections: bounds.connections,
        ...(bounds.amount !== undefined ? { amount: bounds.amount } : { duration: bounds.durationS ?? DURATION_S }),
        headers: { 'content-type': 'application/json', ...headers },
        body,
      },
      (error: unknown, result: autocannon.Result) => {
        clearTimeout(cap);
        if (error) {
          reject(error instanceof Error ? error : new Error(`autocannon failed: ${JSON.stringify(error)}`));
          return;
        }
        samples.sort((a, b) => a - b);
        shedSamples.sort((a, b) => a - b);
        // A run of `amount` requests is short: its rate is the count over the time to its last
        // response (autocannon ends a run, and averages rates, on whole seconds only).
        const seconds = (lastResponseAt - started) / 1000;
        resolve({
          requestsPerSec: Math.round(bounds.amount !== undefined ? result.requests.total / seconds : result.requests.average),
          p50: percentile(samples, 0.5),
          p99: percentile(samples, 0.99),
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
          total: result.requests.total,
          ok: samples.length,
          shed: shedSamples.length,
          shedP99: percentile(shedSamples, 0.99),
          seconds: round2(seconds),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      lastResponseAt = performance.now();
      if (statusCode >= 200 && statusCode < 300 && samples.length < MAX_SAMPLES) samples.push(responseTime);
      else if (statusCode === 429 && shedSamples.length < MAX_SAMPLES) shedSamples.push(responseTime);
    });
    const cap = setTimeout(() => instance.stop(), bounds.maxSeconds * 1000);
  });
}

/**
 * The usual measured run: CONNECTIONS connections for DURATION_S seconds, after a warm-up of the
 * same number of requests for every scenario (at 10 connections, at most WARMUP_MAX_SECONDS): a
 * path through more code (the gRPC client and server) needs more calls before V8 has optimised it,
 * and a warm-up bounded in time only would give it fewer.
 */
async function measure(url: string, body: string, headers: Record<string, string>): Promise<Figures> {
  await load(url, body, headers, { connections: 10, amount: WARMUP_REQUESTS, maxSeconds: WARMUP_MAX_SECONDS });
  return load(url, body, headers, { connections: CONNECTIONS, durationS: DURATION_S, maxSeconds: DURATION_S + 30 });
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** The runtime server's own counters (GetMetrics), to show the remote figures did cross the hop. */
async function remoteExecuteCalls(address: string): Promise<number> {
  const { RuntimeClient } = loadProtos();
  const client = new RuntimeClient(address, grpc.credentials.createInsecure());
  try {
    const answer = await new Promise<{ metrics_json: string }>((resolve, reject) =>
      client.GetMetrics({}, { deadline: Date.now() + 5000 }, (error, response) => (error || !response ? reject(error ?? new Error('no answer')) : resolve(response))),
    );
    const metrics = JSON.parse(answer.metrics_json) as { calls?: { Execute?: number } };
    return metrics.calls?.Execute ?? 0;
  } finally {
    client.close();
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** A build of BASELINE_REF in a worktree under .bench/ (node_modules shared with this checkout), made once. */
function baselineBuild(): string {
  const dir = join(root, '.bench', `baseline-${BASELINE_REF.slice(0, 12)}`);
  const git = (args: string[], cwd = root): void => {
    execFileSync('git', args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  };
  if (!existsSync(join(dir, 'package.json'))) {
    rmSync(dir, { recursive: true, force: true });
    git(['worktree', 'prune']);
    git(['worktree', 'add', '--detach', dir, BASELINE_REF]);
  }
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (!existsSync(join(dir, 'dist', 'src', 'main', 'server.js'))) {
    process.stderr.write(`building the baseline ${BASELINE_REF.slice(0, 12)} in ${dir}\n`);
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  }
  return dir;
}

interface EndpointHealth {
  address: string;
  status: string;
  details?: Record<string, unknown>;
}

async function endpoints(baseUrl: string, language: string): Promise<EndpointHealth[]> {
  const health = (await (await fetch(`${baseUrl}/health`)).json()) as { components: { runtimes: Record<string, { endpoints?: EndpointHealth[] }> } };
  return health.components.runtimes[language]?.endpoints ?? [];
}

/** Polls `check` every `everyMs` until it holds or `maxMs` passes; the time it took, or undefined. */
async function timeUntil(check: () => Promise<boolean>, maxMs: number, everyMs = 2): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < maxMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return undefined;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** min, median and max of `values` in ms with one decimal, and how many. */
function spread(values: readonly number[]): { min: number; median: number; max: number; runs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const r = (x: number | undefined): number => Math.round((x ?? 0) * 10) / 10;
  return { min: r(sorted[0]), median: r(sorted[Math.floor(sorted.length / 2)]), max: r(sorted.at(-1)), runs: sorted.length };
}

/**
 * The numpy scenario on a fresh service started with `extraEnv`: `rounds` new sessions of a numpy
 * script, each timed from its initialize to its first execute's answer, then deleted (its worker goes).
 */
async function numpyColdStarts(serviceArgs: string[], env: Record<string, string>, extraEnv: Record<string, string>): Promise<ReturnType<typeof spread>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lm-bench-numpy-'));
  const service = await start(serviceArgs, { ...env, DATA_DIR: dataDir, PYTHON_SYSTEM_PACKAGES: 'true', ...extraEnv });
  try {
    const times: number[] = [];
    for (let i = 0; i < NUMPY_ROUNDS; i++) {
      // Not the same script twice: no result cache, no prepared script to reuse.
      const script = `import numpy
# ${i}
result = float(numpy.array(params["values"], dtype=float).sum())`;
      const started = performance.now();
      const init = await postJson(`${service.url}/api/v1/initialize`, { script_content: script }, { 'Language-Title': 'python-numpy_bench' });
      const first = await postJson(`${service.url}/api/v1/execute/${String(init.request_id)}`, { params: { values: [1, 2, i] } }, { 'X-Cache-Control': 'no-cache' });
      times.push(performance.now() - started);
      if (first.result !== 3 + i) throw new Error(`unexpected numpy result ${JSON.stringify(first)}`);
      await fetch(`${service.url}/api/v1/sessions/${String(init.request_id)}`, { method: 'DELETE' });
      await new Promise((resolve) => setTimeout(resolve, NUMPY_SPACING_MS));
    }
    return spread(times);
  } finally {
    await stopProcess(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The bench's npm package store (lodash), filled once by the operator command and kept under .bench/. */
function benchPackageStore(): string {
  const dir = join(root, '.bench', 'nodejs-packages');
  if (!existsSync(join(dir, 'node_modules', 'lodash', 'package.json'))) {
    execFileSync(process.execPath, ['--import', 'tsx', 'src/main/packages-command.ts', 'add', 'lodash@4.17.21'], { cwd: root, env: { ...process.env, NODEJS_PACKAGES_DIR: dir }, stdio: 'inherit', timeout: 180_000 });
  }
  return dir;
}

async function main(): Promise<void> {
  const selected = selectedScenarios(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'lm-bench-'));
  const remoteDataDir = mkdtempSync(join(tmpdir(), 'lm-bench-remote-'));
  const baselineDataDir = mkdtempSync(join(tmpdir(), 'lm-bench-baseline-'));
  // The Rust crate set (≈ 2 min to build) as prebench's setup built it: where `npm start` keeps it.
  const env: Record<string, string> = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: dataDir, RUST_TOOLCHAIN_DIR: loadConfig(process.env).rust.toolchainDir };
  if (process.env.BENCH_DATABASE_URL) env.DATABASE_URL = process.env.BENCH_DATABASE_URL;
  if (process.env.BENCH_REDIS_URL) env.REDIS_URL = process.env.BENCH_REDIS_URL;
  if (selected.has('bundles')) env.NODEJS_PACKAGES_DIR = benchPackageStore();
  // The service's node flags exactly as `npm start` has them.
  const startScript = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const serviceArgs = startScript.split(/\s+/).slice(1);
  const service = await start(serviceArgs, env);
  let bare: Started | undefined;
  let runtimeServer: Started | undefined;
  let remoteService: Started | undefined;
  let baselineService: Started | undefined;
  try {
    if (selected.has('bare')) bare = await start(['--import', 'tsx', 'bench/bare-server.ts'], {});
    const session = async (baseUrl: string, languageTitle: string, script: string): Promise<string> => {
      const init = await postJson(`${baseUrl}/api/v1/initialize`, { script_content: script }, { 'Language-Title': languageTitle });
      return `${baseUrl}/api/v1/execute/${String(init.request_id)}`;
    };
    const body = JSON.stringify({ params: { a: 10, b: 5 } });
    const nodeScript = 'return event.params.a + event.params.b;';
    const nodeSession = async (baseUrl: string): Promise<string> => {
      const url = await session(baseUrl, 'nodejs-calculator', nodeScript);
      const check = await postJson(url, { params: { a: 10, b: 5 } }, { 'X-Cache-Control': 'no-cache' });
      if (check.result !== 15) throw new Error(`unexpected result ${JSON.stringify(check)}`);
      return url;
    };
    const nodeUrl = selected.has('nodejs') || selected.has('cached') ? await nodeSession(service.url) : '';

    // Python, cold: initialize a new session and run its first execute (a blank sandboxed worker
    // is waiting for it), a few times, spaced so the pool refills in between as it would.
    const pythonScript = 'result = params["a"] + params["b"]';
    const coldMs: number[] = [];
    let pythonUrl = '';
    if (selected.has('python')) {
      for (let i = 0; i < 7; i++) {
        const started = performance.now();
        const url = await session(service.url, 'python-calculator', pythonScript);
        const first = await postJson(url, { params: { a: 10, b: i } }, { 'X-Cache-Control': 'no-cache' });
        coldMs.push(performance.now() - started);
        if (first.result !== 10 + i) throw new Error(`unexpected Python result ${JSON.stringify(first)}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      coldMs.sort((a, b) => a - b);
      pythonUrl = await session(service.url, 'python-calculator', pythonScript);
    }

    // Python with numpy, preloaded and not: services of their own, one after the other.
    let numpy: Record<string, unknown> | undefined;
    if (selected.has('numpy')) {
      const preloaded = await numpyColdStarts(serviceArgs, env, { PYTHON_PRELOAD: 'numpy' });
      const notPreloaded = await numpyColdStarts(serviceArgs, env, {});
      numpy = { preloaded, notPreloaded };
    }

    // Node.js with npm packages: the first bundle, then new sessions of the bundled script.
    let bundles: Record<string, unknown> | undefined;
    if (selected.has('bundles')) {
      const lodashScript = (n: number): string => `import _ from "lodash";\n// ${n}\nexport default (event) => _.sum(_.chunk([event.params.a, event.params.b], 1).flat());`;
      const initialize = async (script: string, dependencies?: Record<string, string>): Promise<string> => {
        const init = await postJson(`${service.url}/api/v1/initialize`, { script_content: script, ...(dependencies ? { dependencies } : {}) }, { 'Language-Title': 'nodejs-bundled' });
        if (typeof init.request_id !== 'string' || init.status !== 'initialized') throw new Error(`initialize failed: ${JSON.stringify(init)}`);
        return `${service.url}/api/v1/execute/${init.request_id}`;
      };
      const coldRounds = async (script: string, dependencies?: Record<string, string>): Promise<{ min: number; median: number; max: number; runs: number }> => {
        const times: number[] = [];
        for (let i = 0; i < 21; i++) {
          const started = performance.now();
          const url = await initialize(script, dependencies);
          const first = await postJson(url, { params: { a: 10, b: i } }, { 'X-Cache-Control': 'no-cache' });
          times.push(performance.now() - started);
          if (first.result !== 10 + i) throw new Error(`unexpected result ${JSON.stringify(first)}`);
          // Spaced as the Python rounds are, so the pool refills in between as it would.
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        return spread(times);
      };
      const lodash = { lodash: '4.17.21' };
      const script = lodashScript(Date.now());
      const firstStarted = performance.now();
      await initialize(script, lodash);
      const firstBundleMs = Math.round((performance.now() - firstStarted) * 10) / 10;
      bundles = { firstLodashInitializeMs: firstBundleMs, lodashCachedBundleColdInitializeAndFirstExecuteMs: await coldRounds(script, lodash), plainColdInitializeAndFirstExecuteMs: await coldRounds('return event.params.a + event.params.b;') };
    }

    // Rust: a cold compile (a new script) timed, then the warm session measured below.
    let rustUrl = '';
    let rustCompileMs: number | undefined;
    if (selected.has('rust')) {
      const rustScript = (n: number): string =>
        `use serde_json::{json, Map, Value};\npub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n    let p = &event["params"];\n    Ok(json!(p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0) + ${n}.0 - ${n}.0))\n}\n`;
      const compileStarted = performance.now();
      rustUrl = await session(service.url, 'rust-bench', rustScript(Date.now()));
      rustCompileMs = performance.now() - compileStarted;
      const rustCheck = await postJson(rustUrl, { params: { a: 10, b: 5 } }, { 'X-Cache-Control': 'no-cache' });
      if (rustCheck.result !== 15) throw new Error(`unexpected Rust result ${JSON.stringify(rustCheck)}`);
    }

    // Remote: a Node.js runtime server, and a second service (own data dir) sending Node.js there.
    let remoteUrl = '';
    if (selected.has('remote')) {
      runtimeServer = await start(
        ['--no-node-snapshot', 'dist/src/main/runtime-server-main.js', '--language', 'nodejs', '--host', '127.0.0.1', '--port', '0'],
        { ...env, DATA_DIR: remoteDataDir },
        /runtime listening on (\S+)/,
      );
      remoteService = await start(serviceArgs, { ...env, DATA_DIR: remoteDataDir, NODEJS_RUNTIME_URL: runtimeServer.url });
      remoteUrl = await nodeSession(remoteService.url);
    }

    // The baseline: the build before runtime processes, its own data dir, the same session.
    let baselineUrl = '';
    if (selected.has('baseline')) {
      const dir = baselineBuild();
      baselineService = await start(['--no-node-snapshot', join(dir, 'dist', 'src', 'main', 'server.js')], { ...env, DATA_DIR: baselineDataDir }, undefined, dir);
      baselineUrl = await nodeSession(baselineService.url);
    }

    // One table, one run: every scenario warmed up (the same request count), then measured one
    // after another; the remote one right after its in-process baseline; the baseline build and
    // the current one alternately, BASELINE_ROUNDS times each.
    const noCache = { 'x-cache-control': 'no-cache' };
    const base = `baseline build ${BASELINE_REF.slice(0, 7)} (scripts in the service process)`;
    const current = 'execute, Node.js, warm session, uncached (X-Cache-Control: no-cache), logging on';
    const scenarios: Scenario[] = [
      { name: 'bare', label: 'bare node:http server (parses the body, answers a constant)', url: `${bare?.url ?? ''}/bare`, headers: {} },
      ...(selected.has('baseline')
        ? (Array.from({ length: BASELINE_ROUNDS }, (_, i) => [
            { name: 'baseline', label: `execute, Node.js, ${base}, round ${i + 1}`, url: baselineUrl, headers: noCache },
            { name: 'nodejs', label: `${current}, runtime processes, round ${i + 1}`, url: nodeUrl, headers: noCache },
          ]).flat() as Scenario[])
        : [{ name: 'nodejs', label: current, url: nodeUrl, headers: noCache } as Scenario]),
      { name: 'remote', label: 'execute, Node.js via gRPC runtime service (NODEJS_RUNTIME_URL), warm session, uncached, logging on', url: remoteUrl, headers: noCache },
      { name: 'cached', label: 'execute, Node.js, result cache hit, logging on', url: nodeUrl, headers: {} },
      { name: 'python', label: 'execute, Python, warm session, uncached (X-Cache-Control: no-cache), logging on', url: pythonUrl, headers: noCache },
      { name: 'rust', label: 'execute, Rust (WebAssembly), warm session, uncached (X-Cache-Control: no-cache), logging on', url: rustUrl, headers: noCache },
    ].filter((scenario) => selected.has(scenario.name as ScenarioName)) as Scenario[];
    const rows: { label: string; figures: Figures; connections: number }[] = [];
    const rounds = new Map<ScenarioName, Figures[]>();
    for (const scenario of scenarios) {
      const figures = await measure(scenario.url, body, scenario.headers);
      rows.push({ label: scenario.label, figures, connections: CONNECTIONS });
      rounds.set(scenario.name, [...(rounds.get(scenario.name) ?? []), figures]);
    }
    // A scenario measured in several rounds counts with the median of its rounds, figure by figure.
    const byName = new Map<ScenarioName, Figures>();
    for (const [name, list] of rounds) {
      const mid = (field: keyof Figures): number => median(list.map((f) => f[field]));
      byName.set(name, {
        requestsPerSec: Math.round(mid('requestsPerSec')),
        p50: mid('p50'),
        p99: mid('p99'),
        errors: mid('errors'),
        non2xx: mid('non2xx'),
        total: mid('total'),
        ok: mid('ok'),
        shed: mid('shed'),
        shedP99: mid('shedP99'),
        seconds: mid('seconds'),
      });
    }

    // What a runtime process crash costs, for a warm session: every Node.js runtime process killed
    // (SIGKILL), or one aborted by a script (V8's fatal error); the time to that session's first
    // good answer after it, and until the processes are all back.
    let crash: Record<string, unknown> | undefined;
    if (selected.has('crash')) {
      const executeOk = async (url: string): Promise<boolean> => {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cache-control': 'no-cache' }, body });
        await res.arrayBuffer();
        return res.status === 200;
      };
      const allBack = async (pids: readonly unknown[]): Promise<boolean> => (await endpoints(service.url, 'nodejs')).every((e) => e.status === 'up' && !pids.includes(e.details?.pid));
      const crashUrl = nodeUrl || (await nodeSession(service.url));
      const killed = { firstGoodMs: [] as number[], backMs: [] as number[] };
      const aborted = { firstGoodMs: [] as number[], backMs: [] as number[] };
      // Each crash after the processes have been up a while (a process that dies soon after its
      // start is restarted after a growing delay: that is a crash loop, not the cost of one crash).
      const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, STABLE_MS + 500));
      for (let i = 0; i < CRASH_ROUNDS; i++) {
        await settle();
        const pids = (await endpoints(service.url, 'nodejs')).map((e) => e.details?.pid);
        const started = performance.now();
        for (const pid of pids) if (typeof pid === 'number') process.kill(pid, 'SIGKILL');
        const first = await timeUntil(() => executeOk(crashUrl), 30_000);
        const back = await timeUntil(() => allBack(pids), 30_000);
        if (first === undefined || back === undefined) {
          throw new Error(`the Node.js runtime processes did not come back after a SIGKILL (answer: ${first === undefined ? 'none' : 'ok'}; endpoints: ${JSON.stringify(await endpoints(service.url, 'nodejs'))}; killed ${JSON.stringify(pids)})`);
        }
        killed.firstGoodMs.push(round2(first));
        killed.backMs.push(round2(performance.now() - started));

        // A script of its own each round (a script that keeps crashing its process is refused).
        await settle();
        const bomb = await session(service.url, 'nodejs-bomb', `// round ${i}\nreturn 'x'.repeat(2 ** 27).split('');`);
        const before = (await endpoints(service.url, 'nodejs')).map((e) => e.details?.pid);
        const abortStarted = performance.now();
        const answer = await fetch(bomb, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"params":{}}' });
        const crashBody = (await answer.json()) as { error?: { details?: { reason?: string } } };
        if (crashBody.error?.details?.reason !== 'sandbox_crashed') throw new Error(`the bomb did not crash its process: ${JSON.stringify(crashBody)}`);
        const abortFirst = await timeUntil(() => executeOk(crashUrl), 30_000);
        await timeUntil(async () => {
          const now = await endpoints(service.url, 'nodejs');
          return now.every((e) => e.status === 'up') && now.some((e) => !before.includes(e.details?.pid));
        }, 30_000);
        if (abortFirst === undefined) throw new Error('no good answer after a V8 abort');
        aborted.firstGoodMs.push(round2(abortFirst));
        aborted.backMs.push(round2(performance.now() - abortStarted));
      }
      crash = {
        rounds: CRASH_ROUNDS,
        sigkillAllNodejsProcesses: { firstGoodAnswerMsMedian: median(killed.firstGoodMs), processesBackMsMedian: median(killed.backMs), ...killed },
        v8AbortByScript: { firstGoodAnswerMsMedian: median(aborted.firstGoodMs), processBackMsMedian: median(aborted.backMs), ...aborted },
      };
    }

    // Overload: a service of its own (fresh: its peak RSS is its own) per connection count, one
    // warm Node.js session, uncached executes for DURATION_S seconds. Answered (200) and shed (429)
    // per second, p99 of each, peak RSS, and the request_logs rows written: during the run (rows/s)
    // and in all once the queue has drained, which must equal the requests answered (none lost).
    const overload: Record<string, number | null>[] = [];
    if (selected.has('overload')) {
      for (const connections of OVERLOAD_CONNECTIONS) {
        const overloadDir = mkdtempSync(join(tmpdir(), 'lm-bench-overload-'));
        const own = await start(serviceArgs, { ...env, DATA_DIR: overloadDir });
        try {
          const url = await nodeSession(own.url);
          const scrape = async (): Promise<{ written: number; queued: number }> => {
            const text = await (await fetch(`${own.url}/metrics`)).text();
            const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
            return { written: value(/lambda_log_rows_written_total\{writer="request_logs"\} (\d+)/), queued: value(/lambda_log_queue_depth\{writer="request_logs"\} (\d+)/) };
          };
          await load(url, body, noCache, { connections: 10, amount: WARMUP_REQUESTS, maxSeconds: WARMUP_MAX_SECONDS });
          await timeUntil(async () => (await scrape()).queued === 0, 30_000, 50);
          const before = await scrape();
          const figures = await load(url, body, noCache, { connections, durationS: DURATION_S, maxSeconds: DURATION_S + 30 });
          const atEnd = await scrape();
          const drainMs = await timeUntil(async () => (await scrape()).queued === 0, 60_000, 50);
          const after = await scrape();
          const mem = treeRssKiB(own.child.pid ?? 0);
          // Every answered execute is one row (the session's initialize and check were written before);
          // calls cut off when the run stopped are rows too (499), so written may exceed answered.
          const answered = figures.ok + figures.non2xx;
          const row = {
            connections,
            answeredPerSec: Math.round(figures.ok / figures.seconds),
            shedPerSec: Math.round(figures.shed / figures.seconds),
            p50: figures.p50,
            p99: figures.p99,
            shedP99: figures.shedP99,
            errors: figures.errors,
            rowsWrittenPerSecDuringRun: Math.round((atEnd.written - before.written) / figures.seconds),
            rowsQueuedAtEndOfRun: atEnd.queued,
            drainMs: drainMs === undefined ? null : Math.round(drainMs),
            rowsWritten: after.written - before.written,
            requestsAnswered: answered,
            rowsLost: Math.max(0, answered - (after.written - before.written)),
            servicePeakRssMiB: Math.round(mem.selfPeak / 1024),
            serviceRssMiB: Math.round(mem.self / 1024),
            embeddedPostgresRssMiB: Math.round(mem.children / 1024),
          };
          overload.push(row);
          process.stderr.write(`overload ${connections}: ${JSON.stringify(row)}\n`);
        } finally {
          await stopProcess(own);
          rmSync(overloadDir, { recursive: true, force: true });
        }
      }
    }

    // The runtime processes' memory: RSS of each (as it reports it) and its cgroup's use (its children, Python workers, included).
    const runtimeMemory: Record<string, unknown> = {};
    for (const language of ['nodejs', 'python', 'rust']) {
      runtimeMemory[language] = (await endpoints(service.url, language)).map((e) => ({
        address: e.address,
        rssMiB: typeof e.details?.rss_bytes === 'number' ? Math.round(e.details.rss_bytes / 1048576) : null,
        cgroupMiB: typeof e.details?.memory_bytes === 'number' ? Math.round(e.details.memory_bytes / 1048576) : null,
        cgroupLimitMiB: typeof e.details?.memory_limit_bytes === 'number' ? Math.round(e.details.memory_limit_bytes / 1048576) : null,
      }));
    }

    // The hop alone: one connection, one request at a time, in-process then remote.
    let hop: Record<string, unknown> | undefined;
    const hopRows: { label: string; added: { p50: number; p99: number } }[] = [];
    if (selected.has('remote') && runtimeServer) {
      const probe = async (url: string): Promise<Figures> => {
        await load(url, body, noCache, { connections: 1, amount: 1000, maxSeconds: 15 });
        return load(url, body, noCache, { connections: 1, amount: HOP_REQUESTS, maxSeconds: HOP_MAX_SECONDS });
      };
      const localOne = await probe(nodeUrl);
      const remoteOne = await probe(remoteUrl);
      rows.push({ label: `execute, Node.js, in-process, 1 connection, ${HOP_REQUESTS} requests`, figures: localOne, connections: 1 });
      rows.push({ label: `execute, Node.js via gRPC runtime service, 1 connection, ${HOP_REQUESTS} requests`, figures: remoteOne, connections: 1 });
      const local = byName.get('nodejs') as Figures;
      const remote = byName.get('remote') as Figures;
      const added = (a: Figures, b: Figures): { p50: number; p99: number } => ({ p50: round2(b.p50 - a.p50), p99: round2(b.p99 - a.p99) });
      hopRows.push({ label: `gRPC hop, added latency (remote − in-process), ${CONNECTIONS} connections`, added: added(local, remote) });
      hopRows.push({ label: 'gRPC hop, added latency (remote − in-process), 1 connection', added: added(localOne, remoteOne) });
      const executeCalls = await remoteExecuteCalls(runtimeServer.url);
      if (executeCalls < remote.total + remoteOne.total) throw new Error(`the runtime server counted ${executeCalls} Execute calls, fewer than the remote requests measured`);
      const serverMem = treeRssKiB(runtimeServer.child.pid ?? 0);
      const remoteServiceMem = treeRssKiB(remoteService?.child.pid ?? 0);
      hop = {
        runtimeServer: runtimeServer.url,
        underLoad: { connections: CONNECTIONS, inProcess: local, remote, addedP50Ms: hopRows[0]?.added.p50, addedP99Ms: hopRows[0]?.added.p99, requestsPerSecRatio: round2(remote.requestsPerSec / Math.max(1, local.requestsPerSec)) },
        oneConnection: { requests: HOP_REQUESTS, inProcess: localOne, remote: remoteOne, addedP50Ms: hopRows[1]?.added.p50, addedP99Ms: hopRows[1]?.added.p99 },
        runtimeServerExecuteCalls: executeCalls,
        runtimeServerRssMiB: Math.round(serverMem.self / 1024),
        remoteServiceRssMiB: Math.round(remoteServiceMem.self / 1024),
      };
    }

    const mem = treeRssKiB(service.child.pid ?? 0);
    const ratioOf = (a: ScenarioName, b: ScenarioName, field: 'requestsPerSec' | 'p50'): number | null => {
      const x = byName.get(a);
      const y = byName.get(b);
      return x && y ? round2(x[field] / Math.max(y[field], field === 'p50' ? 0.001 : 1)) : null;
    };

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const queued = /lambda_log_queue_depth\{writer="request_logs"\} (\d+)/.exec(metrics)?.[1] ?? '?';
    const results = {
      date: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, node ${process.version}`,
      database: env.DATABASE_URL ? 'external PostgreSQL' : 'embedded PostgreSQL (default)',
      cache: env.REDIS_URL ? 'Redis' : 'in-process (default)',
      scenarios: [...selected],
      connections: CONNECTIONS,
      durationSeconds: DURATION_S,
      rows: [...rows.map((r) => ({ label: r.label, connections: r.connections, ...r.figures })), ...hopRows.map((r) => ({ label: r.label, addedP50Ms: r.added.p50, addedP99Ms: r.added.p99 }))],
      ratio: ratioOf('nodejs', 'bare', 'requestsPerSec'),
      ...(selected.has('baseline')
        ? {
            baseline: { ref: BASELINE_REF, rounds: BASELINE_ROUNDS, medianOfRounds: byName.get('baseline'), currentMedianOfRounds: byName.get('nodejs') },
            currentOverBaselineRequestsPerSec: ratioOf('nodejs', 'baseline', 'requestsPerSec'),
            baselineServiceRssMiB: Math.round(treeRssKiB(baselineService?.child.pid ?? 0).self / 1024),
          }
        : {}),
      ...(crash ? { crash } : {}),
      runtimeProcessMemory: runtimeMemory,
      cachedOverBareLatencyP50: ratioOf('cached', 'bare', 'p50'),
      serviceRssMiB: Math.round(mem.self / 1024),
      servicePeakRssMiB: Math.round(mem.selfPeak / 1024),
      embeddedPostgresRssMiB: Math.round(mem.children / 1024),
      runtimeProcessTreesRssMiB: Math.round(mem.others / 1024),
      requestLogRowsQueuedAtEnd: queued,
      ...(selected.has('python')
        ? {
            pythonColdInitializeAndFirstExecuteMs: {
              min: Math.round((coldMs[0] ?? 0) * 10) / 10,
              median: Math.round((coldMs[Math.floor(coldMs.length / 2)] ?? 0) * 10) / 10,
              max: Math.round((coldMs.at(-1) ?? 0) * 10) / 10,
            },
            pythonOverNodejs: ratioOf('python', 'nodejs', 'requestsPerSec'),
          }
        : {}),
      ...(bundles ? { nodejsBundles: bundles } : {}),
      ...(numpy ? { pythonNumpyColdInitializeAndFirstExecuteMs: numpy } : {}),
      ...(rustCompileMs !== undefined ? { rustColdCompileMs: Math.round(rustCompileMs), rustOverNodejs: ratioOf('rust', 'nodejs', 'requestsPerSec') } : {}),
      ...(hop ? { remoteHop: hop } : {}),
      ...(overload.length > 0 ? { overload } : {}),
    };
    mkdirSync(join(root, '.bench'), { recursive: true });
    writeFileSync(join(root, '.bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nBenchmark (${results.machine}; ${results.database}; cache ${results.cache}; ${CONNECTIONS} connections, ${DURATION_S} s each unless said, autocannon on loopback)\n`);
    console.log('| scenario | requests/s | p50 ms | p99 ms | errors | non-2xx |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const { label, figures: f } of rows) console.log(`| ${label} | ${f.requestsPerSec} | ${f.p50} | ${f.p99} | ${f.errors} | ${f.non2xx} |`);
    for (const { label, added } of hopRows) console.log(`| ${label} | | +${added.p50} | +${added.p99} | | |`);
    const cachedRatio = ratioOf('cached', 'bare', 'requestsPerSec');
    if (results.ratio !== null) console.log(`\nratio execute (uncached) / bare: ${results.ratio}${cachedRatio !== null ? `; cached execute requests/s / bare: ${cachedRatio}` : ''}`);
    console.log(`service RSS: ${results.serviceRssMiB} MiB now, ${results.servicePeakRssMiB} MiB peak (its runtime processes apart); embedded PostgreSQL processes: ${results.embeddedPostgresRssMiB} MiB`);
    console.log(`runtime processes: ${JSON.stringify(runtimeMemory)}`);
    if (results.currentOverBaselineRequestsPerSec !== undefined) {
      const b = byName.get('baseline') as Figures;
      const n = byName.get('nodejs') as Figures;
      console.log(`Node.js execute, median of ${BASELINE_ROUNDS} rounds: baseline ${b.requestsPerSec} req/s p50 ${b.p50} p99 ${b.p99}; runtime processes ${n.requestsPerSec} req/s p50 ${n.p50} p99 ${n.p99}; ratio ${results.currentOverBaselineRequestsPerSec}`);
    }
    if (crash) console.log(`runtime process crash: ${JSON.stringify(crash)}`);
    if (overload.length > 0) {
      console.log('\n| overload (Node.js execute, uncached, one session) | answered 200/s | shed 429/s | p99 200 ms | p99 429 ms | rows written/s during run | rows queued at end | drained in ms | rows lost | service peak RSS MiB | embedded PostgreSQL MiB |');
      console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const o of overload) {
        console.log(`| ${o.connections} connections | ${o.answeredPerSec} | ${o.shedPerSec} | ${o.p99} | ${o.shedP99} | ${o.rowsWrittenPerSecDuringRun} | ${o.rowsQueuedAtEndOfRun} | ${o.drainMs} | ${o.rowsLost} | ${o.servicePeakRssMiB} | ${o.embeddedPostgresRssMiB} |`);
      }
    }
    console.log(`request_logs rows still queued at the end: ${queued}`);
    if (results.pythonColdInitializeAndFirstExecuteMs) {
      const cold = results.pythonColdInitializeAndFirstExecuteMs;
      console.log(`Python cold initialize + first execute (new session, over HTTP): median ${cold.median} ms (min ${cold.min}, max ${cold.max}, ${coldMs.length} runs)`);
    }
    if (numpy) {
      const { preloaded: p, notPreloaded: n } = numpy as Record<'preloaded' | 'notPreloaded', ReturnType<typeof spread>>;
      console.log(
        `Python, numpy script, cold initialize + first execute over HTTP (${p.runs} runs each): PYTHON_PRELOAD=numpy median ${p.median} ms (min ${p.min}, max ${p.max}); without preload median ${n.median} ms (min ${n.min}, max ${n.max})`,
      );
    }
    if (bundles) {
      const b = bundles as { firstLodashInitializeMs: number; lodashCachedBundleColdInitializeAndFirstExecuteMs: { median: number; min: number; max: number; runs: number }; plainColdInitializeAndFirstExecuteMs: { median: number; min: number; max: number } };
      const c = b.lodashCachedBundleColdInitializeAndFirstExecuteMs;
      const p = b.plainColdInitializeAndFirstExecuteMs;
      console.log(`Node.js with lodash: first initialize (esbuild bundle + prepare, over HTTP) ${b.firstLodashInitializeMs} ms; cold initialize + first execute of a new session, bundle cached: median ${c.median} ms (min ${c.min}, max ${c.max}, ${c.runs} runs); the same for a plain script: median ${p.median} ms (min ${p.min}, max ${p.max})`);
    }
    if (results.rustColdCompileMs !== undefined) {
      console.log(`Rust cold initialize (compile of a new script to WebAssembly, over HTTP): ${results.rustColdCompileMs} ms; Rust / Node.js warm execute: ${results.rustOverNodejs}`);
    }
    if (hop) {
      const h = hop as { underLoad: { requestsPerSecRatio: number }; runtimeServerExecuteCalls: number; runtimeServerRssMiB: number; remoteServiceRssMiB: number };
      console.log(
        `gRPC runtime service: remote / in-process requests/s ${h.underLoad.requestsPerSecRatio}; the runtime server counted ${h.runtimeServerExecuteCalls} Execute calls; RSS runtime server ${h.runtimeServerRssMiB} MiB, its service ${h.remoteServiceRssMiB} MiB`,
      );
    }
  } finally {
    await Promise.all([stopProcess(bare), stopProcess(remoteService), stopProcess(service), stopProcess(baselineService)]);
    await stopProcess(runtimeServer);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(remoteDataDir, { recursive: true, force: true });
    rmSync(baselineDataDir, { recursive: true, force: true });
  }
}

await main();
