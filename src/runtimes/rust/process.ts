/**
 * Runs one child process with a wall-time limit and bounded captured output. The child leads its
 * own process group, so a timeout (or an abort) kills everything it started.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface ProcessOptions {
  readonly cwd?: string;
  /** The child's complete environment (nothing is inherited). */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Bytes of stdout and of stderr kept, each; the rest is dropped. */
  readonly maxOutputBytes: number;
  readonly signal?: AbortSignal;
}

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** The process could not be started at all (e.g. the binary is missing). */
  readonly spawnError?: Error;
  readonly durationMs: number;
}

export function runProcess(command: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  const limit = options.maxOutputBytes;
  const started = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: { ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stdout = capture(child.stdout, limit);
  const stderr = capture(child.stderr, limit);
  const ended = { timedOut: false, aborted: false };
  const kill = (why: keyof typeof ended) => (): void => {
    ended[why] = true;
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  const timer = setTimeout(kill('timedOut'), options.timeoutMs);
  const onAbort = kill('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  return new Promise((resolve) => {
    // A failed spawn may report both `error` and `close`: the first settles, the second changes nothing.
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout: stdout(), stderr: stderr(), ...ended, durationMs: performance.now() - started, ...(spawnError ? { spawnError } : {}) });
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** The first `limit` bytes of `stream`, when asked. */
function capture(stream: Readable, limit: number): () => string {
  const chunks: Buffer[] = [];
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    if (bytes < limit) chunks.push(chunk.subarray(0, limit - bytes));
    bytes += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8');
}
