import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectPath } from '../../src/config/paths.js';
import { RUST_TEST_CACHE_DIR } from './rust.js';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns `node args` in `cwd` with exactly `env` and waits until it prints the line `pattern`
 * matches; resolves with the first capture group. Rejects with everything it printed when it exits
 * first or takes longer than `timeoutMs`; `onSpawn` gets the child at once (to stop it even then).
 */
export async function spawnUntil(
  what: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly env: Record<string, string>; readonly onSpawn?: (child: ChildProcess) => void },
  pattern: RegExp,
  timeoutMs: number,
): Promise<{ child: ChildProcess; found: string; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  options.onSpawn?.(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const found = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening:\n${output}`));
    });
  });
  return { child, found, output: () => output, exited };
}

/** One of the project's entry points, from its sources (through tsx). */
function spawnEntryPoint(
  what: string,
  args: readonly string[],
  env: Record<string, string>,
  pattern: RegExp,
  timeoutMs: number,
): ReturnType<typeof spawnUntil> {
  return spawnUntil(
    what,
    ['--no-node-snapshot', '--import', 'tsx', ...args],
    { cwd: projectPath(), env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', RUST_TOOLCHAIN_DIR: RUST_TEST_CACHE_DIR, ...env } },
    pattern,
    timeoutMs,
  );
}

/** Starts the real entry point (src/main/server.ts) as its own process on a free port. */
export async function startServerProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServerProcess> {
  const started = await spawnEntryPoint(
    'server',
    [projectPath('src/main/server.ts')],
    { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: mkdtempSync(join(tmpdir(), 'lm-e2e-data-')), ...env },
    /listening on (http:\/\/[^\s"]+)/,
    timeoutMs,
  );
  const { child, exited } = started;
  return {
    child,
    baseUrl: started.found,
    output: started.output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface RuntimeProcess {
  readonly child: ChildProcess;
  /** `host:port` the runtime server listens on. */
  readonly address: string;
  output(): string;
  /** Sends a signal (SIGKILL by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The runtime server entry point (src/main/runtime-server-main.ts) as its own process. */
export async function startRuntimeProcess(language: string, port: number, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<RuntimeProcess> {
  const started = await spawnEntryPoint(
    `${language} runtime server`,
    [projectPath('src/main/runtime-server-main.ts'), '--language', language, '--port', String(port)],
    { LOG_LEVEL: 'warn', ...env },
    /runtime listening on (\S+)/,
    timeoutMs,
  );
  const { child, exited } = started;
  return {
    child,
    address: started.found,
    output: started.output,
    async stop(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
