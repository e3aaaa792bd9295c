/**
 * `npm run bench`: warm execute of `return event.params.a + event.params.b;` on one session (and of
 * its Python twin `result = params["a"] + params["b"]`), with
 * request logging on, against the service as `npm start` runs it (compiled, embedded default
 * database unless BENCH_DATABASE_URL is set), beside a bare Fastify route returning a constant,
 * in the same run. Load: autocannon on loopback, 50 connections, bounded in time.
 * Prints a Markdown table (pasted into the README) and writes .bench/results.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const root = new URL('..', import.meta.url).pathname;
const DURATION_S = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

interface Started {
  child: ChildProcess;
  url: string;
}

function start(args: string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve({ child, url: m[1] });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

function kib(status: string, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) : 0;
}

/** RSS of a process and of every descendant (the embedded PostgreSQL runs as children). */
function treeRssKiB(pid: number): { self: number; selfPeak: number; children: number } {
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
  return {
    self: kib(own, 'VmRSS'),
    selfPeak: kib(own, 'VmHWM'),
    children: descendants(pid).reduce((sum, c) => sum + kib(status(c), 'VmRSS'), 0),
  };
}

interface Scenario {
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
}

async function load(url: string, body: string, headers: Record<string, string> = {}): Promise<Figures> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION_S,
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    requestsPerSec: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  };
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lm-bench-'));
  // The Rust toolchain build (serde_json for wasm32-wasi, ~7 s) is kept between bench runs.
  const env: Record<string, string> = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: dataDir, RUST_TOOLCHAIN_DIR: join(root, '.bench', 'wasm-toolchain') };
  if (process.env.BENCH_DATABASE_URL) env.DATABASE_URL = process.env.BENCH_DATABASE_URL;
  if (process.env.BENCH_REDIS_URL) env.REDIS_URL = process.env.BENCH_REDIS_URL;
  const service = await start(['--no-node-snapshot', 'dist/src/main/server.js'], env);
  const bare = await start(['--import', 'tsx', 'bench/bare-server.ts'], {});
  try {
    const session = async (languageTitle: string, script: string): Promise<string> => {
      const init = await postJson(`${service.url}/api/v1/initialize`, { script_content: script }, { 'Language-Title': languageTitle });
      return `${service.url}/api/v1/execute/${String(init.request_id)}`;
    };
    const body = JSON.stringify({ params: { a: 10, b: 5 } });
    const nodeUrl = await session('nodejs-calculator', 'return event.params.a + event.params.b;');
    const check = await postJson(nodeUrl, { params: { a: 10, b: 5 } }, { 'X-Cache-Control': 'no-cache' });
    if (check.result !== 15) throw new Error(`unexpected result ${JSON.stringify(check)}`);

    // Python, cold: initialize a new session and run its first execute (a blank sandboxed worker
    // is waiting for it), a few times, spaced so the pool refills in between as it would.
    const pythonScript = 'result = params["a"] + params["b"]';
    const coldMs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      const url = await session('python-calculator', pythonScript);
      const first = await postJson(url, { params: { a: 10, b: i } }, { 'X-Cache-Control': 'no-cache' });
      coldMs.push(performance.now() - started);
      if (first.result !== 10 + i) throw new Error(`unexpected Python result ${JSON.stringify(first)}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    coldMs.sort((a, b) => a - b);
    const pythonUrl = await session('python-calculator', pythonScript);

    // Rust: a cold compile (a new script) timed, then the warm session measured below.
    const rustScript = (n: number): string =>
      `use serde_json::{json, Map, Value};\npub fn handler(event: Map<String, Value>) -> Result<Value, String> {\n    let p = &event["params"];\n    Ok(json!(p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0) + ${n}.0 - ${n}.0))\n}\n`;
    const compileStarted = performance.now();
    const rustUrl = await session('rust-bench', rustScript(Date.now()));
    const rustCompileMs = performance.now() - compileStarted;
    const rustCheck = await postJson(rustUrl, { params: { a: 10, b: 5 } }, { 'X-Cache-Control': 'no-cache' });
    if (rustCheck.result !== 15) throw new Error(`unexpected Rust result ${JSON.stringify(rustCheck)}`);

    // One table, one run: every scenario warmed briefly, then measured one after another.
    const noCache = { 'x-cache-control': 'no-cache' };
    const scenarios: Scenario[] = [
      { label: 'bare Fastify route (constant)', url: `${bare.url}/bare`, headers: {} },
      { label: 'execute, Node.js, warm session, uncached (X-Cache-Control: no-cache), logging on', url: nodeUrl, headers: noCache },
      { label: 'execute, Node.js, result cache hit, logging on', url: nodeUrl, headers: {} },
      { label: 'execute, Python, warm session, uncached (X-Cache-Control: no-cache), logging on', url: pythonUrl, headers: noCache },
      { label: 'execute, Rust (WebAssembly), warm session, uncached (X-Cache-Control: no-cache), logging on', url: rustUrl, headers: noCache },
    ];
    const rows: { scenario: Scenario; figures: Figures }[] = [];
    for (const scenario of scenarios) {
      await autocannon({ url: scenario.url, method: 'POST', connections: 10, duration: 2, headers: { 'content-type': 'application/json', ...scenario.headers }, body });
      rows.push({ scenario, figures: await load(scenario.url, body, scenario.headers) });
    }
    const mem = treeRssKiB(service.child.pid ?? 0);
    const bareFigures = rows[0]?.figures as Figures;
    const execFigures = rows[1]?.figures as Figures;
    const cachedFigures = rows[2]?.figures as Figures;
    const pythonFigures = rows[3]?.figures as Figures;

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const queued = /lambda_log_queue_depth\{writer="request_logs"\} (\d+)/.exec(metrics)?.[1] ?? '?';
    const results = {
      date: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, node ${process.version}`,
      database: env.DATABASE_URL ? 'external PostgreSQL' : 'embedded PostgreSQL (default)',
      cache: env.REDIS_URL ? 'Redis' : 'in-process (default)',
      connections: CONNECTIONS,
      durationSeconds: DURATION_S,
      rows: rows.map((r) => ({ label: r.scenario.label, ...r.figures })),
      ratio: Math.round((execFigures.requestsPerSec / bareFigures.requestsPerSec) * 100) / 100,
      cachedOverBareLatencyP50: Math.round((cachedFigures.p50 / Math.max(bareFigures.p50, 0.001)) * 100) / 100,
      serviceRssMiB: Math.round(mem.self / 1024),
      servicePeakRssMiB: Math.round(mem.selfPeak / 1024),
      embeddedPostgresRssMiB: Math.round(mem.children / 1024),
      requestLogRowsQueuedAtEnd: queued,
      pythonColdInitializeAndFirstExecuteMs: {
        min: Math.round((coldMs[0] ?? 0) * 10) / 10,
        median: Math.round((coldMs[Math.floor(coldMs.length / 2)] ?? 0) * 10) / 10,
        max: Math.round((coldMs.at(-1) ?? 0) * 10) / 10,
      },
      pythonOverNodejs: Math.round((pythonFigures.requestsPerSec / Math.max(1, execFigures.requestsPerSec)) * 100) / 100,
      rustColdCompileMs: Math.round(rustCompileMs),
      rustOverNodejs: Math.round(((rows[4]?.figures.requestsPerSec ?? 0) / Math.max(1, execFigures.requestsPerSec)) * 100) / 100,
    };
    mkdirSync(join(root, '.bench'), { recursive: true });
    writeFileSync(join(root, '.bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nBenchmark (${results.machine}; ${results.database}; cache ${results.cache}; ${CONNECTIONS} connections, ${DURATION_S} s each, autocannon on loopback)\n`);
    console.log('| scenario | requests/s | p50 ms | p99 ms | errors | non-2xx |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const { scenario, figures: f } of rows) console.log(`| ${scenario.label} | ${f.requestsPerSec} | ${f.p50} | ${f.p99} | ${f.errors} | ${f.non2xx} |`);
    console.log(`\nratio execute (uncached) / bare: ${results.ratio}; cached execute requests/s / bare: ${Math.round((cachedFigures.requestsPerSec / bareFigures.requestsPerSec) * 100) / 100}`);
    console.log(`service RSS: ${results.serviceRssMiB} MiB now, ${results.servicePeakRssMiB} MiB peak; embedded PostgreSQL processes: ${results.embeddedPostgresRssMiB} MiB`);
    console.log(`request_logs rows still queued at the end: ${queued}`);
    const cold = results.pythonColdInitializeAndFirstExecuteMs;
    console.log(`Python cold initialize + first execute (new session, over HTTP): median ${cold.median} ms (min ${cold.min}, max ${cold.max}, ${coldMs.length} runs)`);
    console.log(`Rust cold initialize (compile of a new script to WebAssembly, over HTTP): ${results.rustColdCompileMs} ms; Rust / Node.js warm execute: ${results.rustOverNodejs}`);
  } finally {
    bare.child.kill('SIGTERM');
    service.child.kill('SIGTERM');
    await new Promise((r) => service.child.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
