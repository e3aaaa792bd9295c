/**
 * A bounded load generator for tests (loopback only): `connections` keep-alive connections, each
 * sending one request after another until `requests` were sent in all or `maxMs` passed. Counts
 * are what tests assert on, never the timings.
 */
import { Agent, request } from 'node:http';

export interface LoadAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface LoadRequest {
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

export interface LoadOptions {
  readonly port: number;
  readonly connections: number;
  readonly requests: number;
  readonly maxMs: number;
  /** The i-th request: path, body and headers. */
  readonly make: (i: number) => LoadRequest;
}

export interface LoadResult {
  readonly answers: LoadAnswer[];
  /** Requests that got no HTTP answer (connection error). */
  readonly failures: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const deadline = Date.now() + options.maxMs;
  const answers: LoadAnswer[] = [];
  let sent = 0;
  let failures = 0;
  const one = (i: number): Promise<LoadAnswer> => {
    const { path, body, headers } = options.make(i);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: options.port, method: 'POST', path, agent, headers: { 'content-type': 'application/json', ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
  const worker = async (): Promise<void> => {
    while (sent < options.requests && Date.now() < deadline) {
      const i = sent++;
      try {
        answers.push(await one(i));
      } catch {
        failures++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, worker));
  } finally {
    agent.destroy();
  }
  return { answers, failures };
}
