/**
 * One Python worker process seen from the host: launch, the newline-delimited JSON protocol (one
 * request in flight at a time), deadline signal, kill, exit.
 *
 * Everything the worker writes is untrusted (a script runs in it and can write to the protocol
 * descriptor): a line that is too long, not JSON, unexpected or for another request id kills the
 * worker, and only the call it was running sees an error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync, statfsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

import type { Logger } from '../../observability/logger.js';
import { FD_INFO, FD_SECCOMP, FD_WORKER_SOURCE, type LaunchPlan } from './sandbox.js';

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

export interface WorkerProcessOptions {
  readonly id: number;
  readonly plan: LaunchPlan;
  readonly workerSource: string;
  /** The worker's config, JSON, passed as its one argument. */
  readonly config: string;
  /** A reply line longer than this is a protocol violation. */
  readonly maxLineBytes: number;
  readonly startTimeoutMs: number;
  readonly logger: Logger;
  readonly onExit: (worker: WorkerProcess, exit: WorkerExit) => void;
}

const STDERR_KEPT = 4096;
/** How long after the launcher exited its pipes may stay open before the host closes them. */
const EXIT_CLOSE_GRACE_MS = 500;

interface Pending {
  readonly id: number;
  resolve(message: WorkerMessage): void;
  reject(error: unknown): void;
}

export class WorkerProcess {
  readonly id: number;
  /** The session (instance key) this worker serves; undefined while it is a blank spare. */
  key: string | undefined;
  busy = false;
  /** The session ended while a call ran: end the worker when the call returns. */
  released = false;
  /** Scripts compiled in this worker, by hash. */
  readonly compiled = new Set<string>();
  lastUsed = 0;
  /** When the current idle period started (performance.now()), and the CPU ticks sampled in it. */
  idleSince = 0;
  cpuSample: { ticks: number; at: number } | undefined;
  /** The python process's pid on the host (for signals and /proc); known once started. */
  pid: number | undefined;
  readonly startedAt: number;
  readyAt: number | undefined;
  readonly ready: Promise<void>;
  /** UTF-8 bytes of the last reply line (what its result can be at most). */
  lastReplyBytes = 0;

  readonly #child: ChildProcess;
  readonly #stdin: Writable;
  readonly #options: WorkerProcessOptions;
  #state: 'starting' | 'ready' | 'dead' = 'starting';
  #killReason: KillReason | undefined;
  #frozen = false;
  #pending: Pending | undefined;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #stderr = '';
  #saidReady = false;
  #resolveReady: () => void = () => undefined;
  #rejectReady: (error: unknown) => void = () => undefined;
  #startTimer: NodeJS.Timeout | undefined;

  constructor(options: WorkerProcessOptions) {
    this.id = options.id;
    this.#options = options;
    this.startedAt = performance.now();
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Nobody may be waiting yet; the rejection is still observed through `ready`.
    this.ready.catch(() => undefined);

    const { plan } = options;
    const sandboxed = plan.kind === 'bubblewrap';
    const child = spawn(plan.command, [...plan.args, options.config], {
      cwd: '/',
      env: {},
      // Its own process group: a kill while bubblewrap is still setting up reaches the sandbox's
      // first process too (it joins its own session only when it starts python).
      detached: true,
      stdio: sandboxed ? ['pipe', 'pipe', 'pipe', plan.seccomp ? 'pipe' : 'ignore', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.#child = child;
    const stdin = child.stdin;
    const stdout = child.stdout;
    const stderr = child.stderr;
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
      const extra = child.stdio as unknown as Array<Readable | Writable | null>;
      const seccompPipe = extra[FD_SECCOMP] as Writable | null;
      const infoPipe = extra[FD_INFO] as Readable | null;
      const sourcePipe = extra[FD_WORKER_SOURCE] as Writable | null;
      seccompPipe?.on('error', () => undefined);
      sourcePipe?.on('error', () => undefined);
      if (plan.seccomp) seccompPipe?.end(plan.seccomp);
      sourcePipe?.end(options.workerSource);
      let info = '';
      infoPipe?.on('data', (chunk: Buffer) => {
        info += chunk.toString('utf8');
        const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
        if (match && this.pid === undefined) {
          this.pid = Number(match[1]);
          this.#maybeReady();
        }
      });
      infoPipe?.on('error', () => undefined);
    }
    this.#startTimer = setTimeout(() => this.kill('start-timeout'), options.startTimeoutMs);
  }

  get state(): 'starting' | 'ready' | 'dead' {
    return this.#state;
  }

  get killReason(): KillReason | undefined {
    return this.#killReason;
  }

  /**
   * Sends one request and resolves with its reply. `fields` is the rest of the request object as
   * JSON members (`"hash":"...","event":{...}`), so that the event is serialised once by the caller.
   */
  request(op: string, fields: string): Promise<WorkerMessage> {
    if (this.#state !== 'ready' || this.#killReason !== undefined) return Promise.reject(new WorkerGone(this.#exitInfo(null, null)));
    if (this.#pending) return Promise.reject(new Error(`worker ${this.id} already has a request in flight`));
    // Unpredictable, so that a script cannot write a reply ahead for a request it has not seen
    // (its worker is frozen between calls: a line it left half-written arrives in its next call).
    const id = randomInt(1, 2 ** 48);
    this.thaw();
    return new Promise<WorkerMessage>((resolve, reject) => {
      this.#pending = { id, resolve, reject };
      this.#stdin.write(`{"op":${JSON.stringify(op)},"id":${id},${fields}}\n`);
    });
  }

  /**
   * Stops the worker between calls (SIGSTOP), as AWS Lambda freezes an idle environment: nothing a
   * script left behind (an interval timer's signal handler, a busy loop in a handler) runs while no
   * call of its session does. `request` resumes it; a kill ends it frozen or not.
   */
  freeze(): void {
    if (this.#frozen || this.#state !== 'ready' || this.#killReason !== undefined) return;
    this.#frozen = this.#signal('SIGSTOP');
  }

  thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    this.#signal('SIGCONT');
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /**
   * Files (inodes) in the worker's private /tmp, read from the host side (its tmpfs has a size
   * limit but no inode limit: 400,000 empty files took about 400 MiB of kernel memory); undefined
   * when it cannot be read (no sandbox: /tmp is the host's).
   */
  tmpFiles(): number | undefined {
    if (this.pid === undefined || this.#state === 'dead' || this.#options.plan.kind !== 'bubblewrap') return undefined;
    try {
      const stats = statfsSync(`/proc/${this.pid}/root/tmp`);
      return stats.files - stats.ffree;
    } catch {
      return undefined;
    }
  }

  /** The call's deadline passed: the worker hands over its logs and exits (see worker.py). */
  signalDeadline(): void {
    this.#signal('SIGUSR1');
  }

  kill(reason: KillReason): void {
    this.#killReason ??= reason;
    if (this.#state === 'dead') return;
    this.#signal('SIGKILL');
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined) {
      try {
        process.kill(-this.#child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      this.#child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  /** CPU time (user + system, in clock ticks) the python process has used, or undefined. */
  cpuTicks(): number | undefined {
    if (this.pid === undefined || this.#state === 'dead') return undefined;
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return undefined;
    }
  }

  #signal(signal: NodeJS.Signals): boolean {
    // Only while the launcher has not exited: after that the pid may belong to someone else.
    if (this.pid === undefined || this.#child.exitCode !== null || this.#child.signalCode !== null) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      // already gone
      return false;
    }
  }

  #onStdout(chunk: Buffer): void {
    // Once the host has decided to kill the worker, nothing it still says is believed.
    if (this.#killReason !== undefined) return;
    let start = 0;
    while (this.#state !== 'dead' && this.#killReason === undefined) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) break;
      let line: Buffer;
      if (this.#partialBytes > 0) {
        this.#partial.push(chunk.subarray(start, newline));
        line = Buffer.concat(this.#partial);
        this.#partial = [];
        this.#partialBytes = 0;
      } else {
        line = chunk.subarray(start, newline);
      }
      start = newline + 1;
      if (line.length > this.#options.maxLineBytes) return this.#violation(`a reply of ${line.length} bytes`);
      this.#onLine(line);
    }
    if (start < chunk.length && this.#state !== 'dead' && this.#killReason === undefined) {
      this.#partial.push(chunk.subarray(start));
      this.#partialBytes += chunk.length - start;
      if (this.#partialBytes > this.#options.maxLineBytes) this.#violation(`a reply of more than ${this.#options.maxLineBytes} bytes`);
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
      this.#saidReady = true;
      this.#maybeReady();
      return;
    }
    const pending = this.#pending;
    if (!pending || record.id !== pending.id) return this.#violation('a reply nobody asked for');
    this.#pending = undefined;
    this.lastReplyBytes = line.length;
    pending.resolve(record);
  }

  #maybeReady(): void {
    if (this.#state !== 'starting' || !this.#saidReady || this.pid === undefined) return;
    this.#state = 'ready';
    this.readyAt = performance.now();
    clearTimeout(this.#startTimer);
    this.#resolveReady();
  }

  #violation(what: string): void {
    this.#options.logger.warn({ worker: this.id, what }, 'python runtime: protocol violation; killing the worker');
    this.kill('protocol');
  }

  #finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#state === 'dead') return;
    const duringStart = this.#state === 'starting';
    this.#state = 'dead';
    clearTimeout(this.#startTimer);
    const exit = this.#exitInfo(code, signal, duringStart);
    const gone = new WorkerGone(exit);
    this.#rejectReady(gone);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(gone);
    this.#options.onExit(this, exit);
  }

  #exitInfo(code: number | null, signal: NodeJS.Signals | null, duringStart = false): WorkerExit {
    // bubblewrap reports a child killed by a signal as exit code 128 + signal.
    let effectiveSignal = signal;
    if (effectiveSignal === null && code !== null && code > 128 && code < 128 + 65) {
      const name = Object.entries(osConstants.signals).find(([, number]) => number === code - 128)?.[0];
      if (name) effectiveSignal = name as NodeJS.Signals;
    }
    return { code, signal: effectiveSignal, reason: this.#killReason, stderr: this.#stderr.trim(), duringStart };
  }
}

export function describeExit(exit: WorkerExit): string {
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
  const why = exit.reason ? ` (${exit.reason})` : '';
  const stderr = exit.stderr ? `: ${exit.stderr.split('\n').slice(0, 3).join(' | ')}` : '';
  return `python worker ${how}${why}${stderr}`;
}
