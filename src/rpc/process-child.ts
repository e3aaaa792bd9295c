/**
 * One incarnation of a local runtime process: spawned in its sandbox (src/sandbox/runtime-sandbox.ts)
 * and, where the machine allows it, its own cgroup, reached over a frame peer on fd 3. What the
 * incarnations of an endpoint have in common (restarts, readiness, health) is process-supervisor.ts's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

import { ServiceError, type ErrorCode } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import type { Language } from '../runtimes/runtime.js';
import type { ModuleStore } from '../runtimes/kit/module-store.js';
import type { CgroupLimits, CgroupSupport, ProcessCgroup } from '../sandbox/cgroup.js';
import { FD_CHANNEL, FD_INFO, FD_SECCOMP, joiningCgroup, type RuntimeProcessLaunch } from '../sandbox/runtime-sandbox.js';
import { FramePeer } from './frame-peer.js';
import type { CrashCause, Exit, Kill } from './process-exit.js';
import type { ProcessLogForwarder } from './process-logs.js';

/** Codes a runtime process may answer with; anything else becomes INTERNAL_ERROR. */
const ACCEPTED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['RUNTIME_UNAVAILABLE', 'INVALID_REQUEST', 'INTERNAL_ERROR']);
/** Of its stderr, what is kept to say why a start failed. */
const STDERR_KEPT = 4096;

/** One incarnation, with what this side keeps about it. */
export interface Child {
  readonly process: ChildProcess;
  readonly peer: FramePeer;
  readonly cgroup: ProcessCgroup | undefined;
  readonly oomBefore: number;
  readonly exited: Promise<Exit>;
  /** The sandboxed node's pid on the host (from bubblewrap's info), once known. */
  pid: number | undefined;
  killedFor: Kill | undefined;
  readyAt: number | undefined;
  stderr: string;
  /** Prepares and executes in flight in it (health checks aside). */
  calls: number;
  /** `calls` when its channel closed. */
  callsAtClose: number;
}

/** What spawning needs: the supervisor's settings and the launch it planned for this incarnation. */
export interface ChildSpawnOptions {
  readonly language: Language;
  readonly address: string;
  readonly logger: Logger;
  readonly launch: RuntimeProcessLaunch;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly cgroups: CgroupSupport;
  readonly cgroupLimits: CgroupLimits;
  readonly store?: ModuleStore;
  readonly maxFrameBytes: number;
  readonly logs: ProcessLogForwarder;
  /** Called once it has exited, its channel closed and its cgroup removed. */
  readonly onExit: (child: Child, exit: Exit) => void;
}

/** Starts one incarnation; it says `ready` (or `failed`) on its peer when it has started. */
export function spawnChild(o: ChildSpawnOptions): Child {
  const { launch } = o;
  const cgroup = o.cgroups.create(`${o.address.replace(/[^\w.-]+/g, '-')}-${Date.now().toString(36)}`, o.cgroupLimits);
  const { command, args } = joiningCgroup(launch, cgroup);
  const child = spawn(command, [...args, JSON.stringify(o.settings)], {
    cwd: '/',
    env: {},
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', launch.seccomp ? 'pipe' : 'ignore', launch.kind === 'bubblewrap' ? 'pipe' : 'ignore'],
  });
  const pipes = child.stdio as unknown as Array<Readable | Writable | null>;
  let resolveExit: (exit: Exit) => void = () => undefined;
  const exited = new Promise<Exit>((resolve) => {
    resolveExit = resolve;
  });
  const peer = new FramePeer(pipes[FD_CHANNEL] as unknown as Socket, {
    maxFrameBytes: o.maxFrameBytes,
    acceptCodes: ACCEPTED_CODES,
    onViolation: (what) => {
      o.logger.error({ address: o.address, what }, `${o.language} runtime process broke the protocol; killing it`);
      killChild(record, `it broke the protocol (${what}) and was killed`, 'protocol');
    },
    onClose: () => {
      record.callsAtClose = record.calls;
    },
  });
  const record: Child = {
    process: child,
    peer,
    cgroup,
    oomBefore: cgroup?.oomKills() ?? 0,
    exited,
    pid: launch.kind === 'none' ? child.pid : undefined,
    killedFor: undefined,
    readyAt: undefined,
    stderr: '',
    calls: 0,
    callsAtClose: 0,
  };

  if (launch.seccomp) {
    const seccompPipe = pipes[FD_SECCOMP] as Writable;
    seccompPipe.on('error', () => undefined);
    seccompPipe.end(launch.seccomp);
  }
  const info = pipes[FD_INFO] as Readable | null;
  if (info) {
    let text = '';
    info.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (match && record.pid === undefined) record.pid = Number(match[1]);
    });
    info.on('error', () => undefined);
  }
  o.logs.forward(child.stderr as Readable, (line) => {
    if (record.stderr.length < STDERR_KEPT) record.stderr += `${line.slice(0, STDERR_KEPT - record.stderr.length)}\n`;
  });
  if (o.store) serveStore(peer, o.store);

  child.on('error', (error) => {
    record.stderr += `spawn failed: ${error.message}`;
  });
  child.on('exit', (code, signal) => {
    const outOfMemory = cgroup !== undefined && cgroup.oomKills() > record.oomBefore;
    const exit: Exit = { code, signal, outOfMemory, killedFor: record.killedFor, stderr: record.stderr.trim() };
    peer.close();
    cgroup?.remove();
    resolveExit(exit);
    o.onExit(record, exit);
  });
  return record;
}

/** SIGKILLs the incarnation (the sandboxed node and bubblewrap's process group); the first reason given is the one its exit reports. */
export function killChild(child: Child, why: string, cause: CrashCause): void {
  child.killedFor ??= { why, cause };
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  for (const pid of [child.pid, child.process.pid === undefined ? undefined : -child.process.pid]) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The Rust process's module store, answered from the service's (PostgreSQL). Keys are hashes; modules are bounded by the frame size. */
function serveStore(peer: FramePeer, store: ModuleStore): void {
  const keyOf = (body: Record<string, unknown>): string => {
    const key = body.key;
    if (typeof key !== 'string' || !/^[0-9a-f]{16,128}$/.test(key)) throw new ServiceError('INVALID_REQUEST', 'a module key is a hex hash');
    return key;
  };
  peer.handle('store.get', async (body) => {
    const found = await store.get(keyOf(body));
    return found ? { body: { found: true, toolchain: found.toolchain }, payload: found.module } : { body: { found: false } };
  });
  peer.handle('store.put', async (body, payload) => {
    const toolchain = typeof body.toolchain === 'string' ? body.toolchain.slice(0, 200) : '';
    if (payload.length === 0 || toolchain === '') throw new ServiceError('INVALID_REQUEST', 'a module and its toolchain are needed');
    await store.put(keyOf(body), { module: new Uint8Array(payload), toolchain });
    return { body: {} };
  });
}
