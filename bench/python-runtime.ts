/**
 * The Python runtime alone, without HTTP: `node --import tsx bench/python-runtime.ts`.
 * Worker start (spawn to ready, sandboxed), cold prepare + first execute of a new session, and
 * warm executes/s of `result = params["a"] + params["b"]` with 1 and 64 calls in flight, on one
 * session and spread over two.
 */
import { createSilentLogger } from '../src/observability/logger.js';
import { PythonRuntime } from '../src/runtimes/python/python-runtime.js';
import { PYTHON_DEFAULTS } from '../test/helpers/defaults.js';

const SECONDS = Number(process.env.BENCH_DURATION_SECONDS ?? 3);
const runtime = new PythonRuntime({ ...PYTHON_DEFAULTS, logger: createSilentLogger(), poolSize: 2 });
await runtime.start();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
await sleep(300);

const source = 'result = params["a"] + params["b"]';
let sequence = 0;
const execute = async (scriptHash: string, instanceKey: string): Promise<void> => {
  const run = await runtime.execute({ scriptHash, instanceKey, event: { params: { a: 1, b: 2 }, context: {}, request_id: 'bench' }, timeoutMs: 5000 });
  if (run.status !== 'ok' || run.result !== 3) throw new Error(JSON.stringify(run));
};

const cold: number[] = [];
for (let i = 0; i < 7; i++) {
  const started = performance.now();
  const hash = `cold-${i}`;
  const prepared = await runtime.prepare({ scriptHash: hash, source: `${source}  # ${i}` });
  if (!prepared.ok) throw new Error(JSON.stringify(prepared));
  await execute(hash, `cold-session-${i}`);
  cold.push(performance.now() - started);
  runtime.release(`cold-session-${i}`);
  await sleep(200);
}
cold.sort((a, b) => a - b);

await runtime.prepare({ scriptHash: 'warm', source });
async function rate(inFlight: number, sessions: number): Promise<number> {
  const keys = Array.from({ length: sessions }, () => `warm-${++sequence}`);
  for (const key of keys) await execute('warm', key);
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      while (performance.now() < end) {
        await execute('warm', keys[lane % sessions] ?? '');
        done += 1;
      }
    }),
  );
  return Math.round(done / SECONDS);
}

const figures = {
  workerStartMs: runtime.health().details?.workerStartMs,
  coldPrepareAndFirstExecuteMs: { min: +(cold[0] ?? 0).toFixed(1), median: +(cold[3] ?? 0).toFixed(1), max: +(cold.at(-1) ?? 0).toFixed(1) },
  warmExecutesPerSecond: {
    oneSessionOneInFlight: await rate(1, 1),
    oneSession64InFlight: await rate(64, 1),
    twoSessions64InFlight: await rate(64, 2),
  },
};
await runtime.stop();
console.log(JSON.stringify(figures, null, 2));
