/**
 * One Python worker process seen from the host: launch, the newline-delimited JSON protocol (one
 * request in flight at a time), freezing, signals, exit. Everything the worker writes is untrusted
 * (a script runs in it and can write to the protocol descriptor): a line that is too long, not
 * JSON, unexpected or for another request id kills the worker; only its call sees an error.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync, statfsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

import type { Logger } from '../../observability/logger.js';
import { FD_GUEST_FILES, FD_INFO, FD_SECCOMP, type LaunchPlan } from './sandbox.js';

export type WorkerMessage = Readonly<Record<string, unknown>>;

/** Why the host ended a worker; undefined when it died on its own. */
export type KillReason = 'timeout' | 'memory' | 'protocol' | 'released' | 'evicted' | 'stop' | 'idle-cpu' | 'tmp-files' | 'start-timeout' | 'prepare-timeout';

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly reason: KillReason | undefined;
  /** The start of what the process wrote to stderr (bubblewrap's own errors land here). */
  readonly stderr: string;
  /** True when it died before it said it was ready. */
  readonly duringStart: boolean;
}

/** The worker ended (killed or crashed) before it answered. */
export class WorkerGone extends Error {
  constructor(readonly exit: WorkerExit) {
    super(describeExit(exit));
    this.name = 'WorkerGone';
  }
}

/** How every worker is launched, once the runtime has found what works here. */
export interface WorkerLaunch {
  readonly plan: LaunchPlan;
  /** The sources of the guest's files (sandbox.ts GUEST_FILES), in that order. */
  readonly guestSources: readonly string[];
  /** The worker's config, JSON, passed as its one argument: a session worker's (with its preload)... */
  readonly config: string;
  /** ...and a compiler's (nothing preloaded: it never runs a script). */
  readonly compilerConfig: string;
  /** A reply line longer than this is a protocol violation. */
  readonly maxLineBytes: number;
  readonly startTimeoutMs: number;
}

/** What a session worker's ready line says of its PYTHON_PRELOAD imports: how long they took, and why a module failed. */
export type PreloadReport = Readonly<{ ms: number; failed: Readonly<Record<string, string>> }>;

export type WorkerProcessOptions = WorkerLaunch & {
  readonly id: number;
  /** A compiler, started with compilerConfig. */
  readonly compiler: boolean;
  readonly logger: Logger;
  /** Called as the process is found gone, before the call it ran sees its WorkerGone. */
  readonly onExit: (worker: WorkerProcess, exit: WorkerExit) => void;
};

const STDERR_KEPT = 4096;
/** How long after the launcher exited its pipes may stay open before the host closes them. */
const EXIT_CLOSE_GRACE_MS = 500;

export class WorkerProcess {
  readonly id: number;
  /** The session (instance key) this worker serves; undefined while it is a blank spare. */
  key: string | undefined;
  busy = false;
  /** Scripts compiled in this worker, by hash. */
  readonly compiled = new Set<string>();
  /** When the current idle period started (performance.now()), and the CPU ticks sampled in it. */
  idleSince = 0;
  cpuSample: { ticks: number; at: number } | undefined;
  /** The python process's pid on the host (for signals and /proc); known once started. */
  pid: number | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  /** UTF-8 bytes of the last reply line (what its result can be at most). */
  lastReplyBytes = 0;
  /** Its preload, once ready (undefined: it preloaded nothing). */
  preload: PreloadReport | undefined;

  readonly #child: ChildProcess;
  readonly #stdin: Writable;
  readonly #options: WorkerProcessOptions;
  #state: 'starting' | 'ready' | 'dead' = 'starting';
  #killReason: KillReason | undefined;
  #frozen = false;
  #pending: { readonly id: number; resolve(message: WorkerMessage): void; reject(error: unknown): void } | undefined;
  /** A reply line so far, when it came in several chunks. */
  #partial: Buffer[] = [];
  #stderr = '';
  #saidReady = false;
  #resolveReady!: () => void;
  #rejectReady!: (error: unknown) => void;
  #resolveExited!: () => void;
  readonly #startTimer: NodeJS.Timeout;

  constructor(options: WorkerProcessOptions) {
    this.id = options.id;
    this.#options = options;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Nobody may be waiting yet; the rejection is still observed through `ready`.
    this.ready.catch(() => undefined);
    this.exited = new Promise<void>((resolve) => (this.#resolveExited = resolve));

    const { plan } = options;
    const sandboxed = plan.kind === 'bubblewrap';
    const stdio: StdioOptions = sandboxed ? ['pipe', 'pipe', 'pipe', plan.seccomp ? 'pipe' : 'ignore', 'pipe', ...options.guestSources.map(() => 'pipe' as const)] : ['pipe', 'pipe', 'pipe'];
    // Its own process group (detached): a kill while bubblewrap is still setting up reaches the
    // sandbox's first process too (it joins its own session only when it starts python).
    const child = spawn(plan.command, [...plan.args, options.compiler ? options.compilerConfig : options.config], { cwd: '/', env: {}, detached: true, stdio, windowsHide: true });
    this.#child = child;
    const { stdin, stdout, stderr } = child;
    if (!stdin || !stdout || !stderr) throw new Error('worker stdio was not created');
    this.#stdin = stdin;
    if (!sandboxed) this.pid = child.pid;

    stdin.on('error', () => undefined);
    stdout.on('data', (chunk: Buffer) => this.#onStdout(chunk));
    stderr.on('data', (chunk: Buffer) => {
      if (this.#stderr.length < STDERR_KEPT) this.#stderr += chunk.toString('utf8').slice(0, STDERR_KEPT - this.#stderr.length);
    });
    child.on('error', (error) => {
      this.#stderr += `spawn failed: ${error.message}`;
      this.#finish(null, null);
    });
    child.on('close', (code, signal) => this.#finish(code, signal));
    // 'close' waits for every pipe to close; should a process the launcher left behind hold them,
    // the launcher's exit is enough (the pipes are closed on this side, so nothing keeps the host).
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        if (this.#state === 'dead') return;
        for (const stream of child.stdio) stream?.destroy();
        this.#finish(code, signal);
      }, EXIT_CLOSE_GRACE_MS).unref();
    });

    if (sandboxed) {
      // bubblewrap reads its seccomp filter and the worker program from pipes, and says the python's pid on another.
      const pipes = child.stdio as unknown as Array<Readable & Writable>;
      const inputs: Array<[number, Buffer | string | undefined]> = [[FD_SECCOMP, plan.seccomp], ...options.guestSources.map((source, i): [number, string] => [FD_GUEST_FILES + i, source])];
      for (const [fd, data] of inputs) pipes[fd]?.on('error', () => undefined).end(data);
      let info = '';
      pipes[FD_INFO]?.on('error', () => undefined).on('data', (chunk: Buffer) => {
        info += chunk.toString('utf8');
        const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
        if (match && this.pid === undefined) {
          this.pid = Number(match[1]);
          this.#maybeReady();
        }
      });
    }
    this.#startTimer = setTimeout(() => this.kill('start-timeout'), options.startTimeoutMs);
  }

  get state(): 'starting' | 'ready' | 'dead' {
    return this.#state;
  }

  get killReason(): KillReason | undefined {
    return this.#killReason;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** Sends one request; `fields` are its other JSON members (`"hash":"...","event":{...}`), serialised once by the caller. */
  request(op: string, fields: string): Promise<WorkerMessage> {
    if (this.#state !== 'ready' || this.#killReason !== undefined) return Promise.reject(new WorkerGone(this.#exitInfo(null, null, false)));
    if (this.#pending) return Promise.reject(new Error(`worker ${this.id} already has a request in flight`));
    // Unpredictable, so that a script cannot write a reply ahead for a request it has not seen
    // (its worker is frozen between calls: a line it left half-written arrives in its next call).
    const id = randomInt(1, 2 ** 48);
    if (this.#frozen) {
      this.#frozen = false;
      this.#signal('SIGCONT');
    }
    return new Promise<WorkerMessage>((resolve, reject) => {
      this.#pending = { id, resolve, reject };
      this.#stdin.write(`{"op":${JSON.stringify(op)},"id":${id},${fields}}\n`);
    });
  }

  /**
   * SIGSTOP between calls, as AWS Lambda freezes an idle environment: nothing a script left behind
   * (an interval timer's signal handler...) runs while no call of its session does.
   */
  freeze(): void {
    if (this.#frozen || this.#state !== 'ready' || this.#killReason !== undefined) return;
    this.#frozen = this.#signal('SIGSTOP');
  }

  /** The call's deadline passed: the worker hands over its logs and exits (see worker.py). */
  signalDeadline(): void {
    this.#signal('SIGUSR1');
  }

  kill(reason: KillReason): void {
    this.#killReason ??= reason;
    if (this.#state === 'dead') return;
    this.#signal('SIGKILL');
    // The launcher's whole group (bubblewrap, and its child until that starts python in a session of its own).
    if (this.#child.pid !== undefined) this.#signal('SIGKILL', -this.#child.pid);
  }

  /** Files (inodes) in its private /tmp: tmpfs bounds bytes, not inodes (400,000 empty files took ~400 MiB of kernel memory). */
  tmpFiles(): number | undefined {
    if (this.#options.plan.kind !== 'bubblewrap') return undefined;
    return this.#fromProc((pid) => {
      const stats = statfsSync(`/proc/${pid}/root/tmp`);
      return stats.files - stats.ffree;
    });
  }

  /** CPU time (user + system, in clock ticks) the python process has used, or undefined. */
  cpuTicks(): number | undefined {
    return this.#fromProc((pid) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    });
  }

  #fromProc(read: (pid: number) => number): number | undefined {
    if (this.pid === undefined || this.#state === 'dead') return undefined;
    try {
      return read(this.pid);
    } catch {
      return undefined;
    }
  }

  #signal(signal: NodeJS.Signals, pid = this.pid): boolean {
    // Only while the launcher has not exited: after that the pid may belong to someone else.
    if (pid === undefined || this.#child.exitCode !== null || this.#child.signalCode !== null) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Once the host has decided to kill the worker, nothing it still says is believed. */
  get #listening(): boolean {
    return this.#state !== 'dead' && this.#killReason === undefined;
  }

  #onStdout(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1 && this.#listening; newline = chunk.indexOf(10, start)) {
      const line = this.#partial.length > 0 ? Buffer.concat([...this.#partial, chunk.subarray(start, newline)]) : chunk.subarray(start, newline);
      this.#partial = [];
      start = newline + 1;
      if (line.length > this.#options.maxLineBytes) return this.#violation(`a reply of ${line.length} bytes`);
      this.#onLine(line);
    }
    if (start < chunk.length && this.#listening) {
      this.#partial.push(chunk.subarray(start));
      if (this.#partial.reduce((bytes, part) => bytes + part.length, 0) > this.#options.maxLineBytes) this.#violation(`a reply of more than ${this.#options.maxLineBytes} bytes`);
    }
  }

  #onLine(line: Buffer): void {
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      return this.#violation('a reply that is not JSON');
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return this.#violation('a reply that is not an object');
    const record = message as Record<string, unknown>;
    if (this.#state === 'starting') {
      if (record.ready !== true) return this.#violation('no ready line');
      this.preload = preloadReport(record.preload);
      this.#saidReady = true;
      return this.#maybeReady();
    }
    const pending = this.#pending;
    if (!pending || record.id !== pending.id) return this.#violation('a reply nobody asked for');
    this.#pending = undefined;
    this.lastReplyBytes = line.length;
    pending.resolve(record);
  }

  /** Ready once it said so and its pid is known (from bubblewrap's info descriptor). */
  #maybeReady(): void {
    if (this.#state !== 'starting' || !this.#saidReady || this.pid === undefined) return;
    this.#state = 'ready';
    clearTimeout(this.#startTimer);
    this.#resolveReady();
  }

  #violation(what: string): void {
    this.#options.logger.warn({ worker: this.id, what }, 'python runtime: protocol violation; killing the worker');
    this.kill('protocol');
  }

  #finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#state === 'dead') return;
    const exit = this.#exitInfo(code, signal, this.#state === 'starting');
    this.#state = 'dead';
    clearTimeout(this.#startTimer);
    const gone = new WorkerGone(exit);
    this.#rejectReady(gone);
    this.#pending?.reject(gone);
    this.#pending = undefined;
    this.#options.onExit(this, exit);
    this.#resolveExited();
  }

  #exitInfo(code: number | null, signal: NodeJS.Signals | null, duringStart: boolean): WorkerExit {
    // bubblewrap reports a child killed by a signal as exit code 128 + signal.
    const reported = signal === null && code !== null && code > 128 ? Object.entries(osConstants.signals).find(([, number]) => number === code - 128)?.[0] : undefined;
    return { code, signal: signal ?? (reported as NodeJS.Signals | undefined) ?? null, reason: this.#killReason, stderr: this.#stderr.trim(), duringStart };
  }
}

/** The ready line's `preload`, its shape checked (no script has run yet, but it is still the worker's word). */
function preloadReport(value: unknown): PreloadReport | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { ms, failed } = value as Record<string, unknown>;
  const failures = typeof failed === 'object' && failed !== null ? Object.entries(failed).filter((entry): entry is [string, string] => typeof entry[1] === 'string') : [];
  return { ms: typeof ms === 'number' && Number.isFinite(ms) ? ms : 0, failed: Object.fromEntries(failures.slice(0, 64).map(([name, why]) => [name.slice(0, 200), why.slice(0, 500)])) };
}

export function describeExit(exit: WorkerExit): string {
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
  const why = exit.reason ? ` (${exit.reason})` : '';
  const stderr = exit.stderr ? `: ${exit.stderr.split('\n').slice(0, 3).join(' | ')}` : '';
  return `python worker ${how}${why}${stderr}`;
}
