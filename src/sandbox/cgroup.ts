/**
 * Control groups for runtime processes, where the machine allows them (the service runs as root
 * and a cgroup hierarchy is writable): a memory limit that counts everything the process and its
 * children use, what V8's heap limit does not see included (ArrayBuffers, ICU's Intl objects,
 * WebAssembly, tmpfs pages and the kernel's own inodes), and a bound on processes and threads.
 * Over the memory limit the kernel kills the process (and the service restarts it); the kill is
 * counted, so the service can say why its process died.
 *
 * cgroup v1 (`/sys/fs/cgroup/{memory,pids}`) and v2 (the unified hierarchy) are both handled. A
 * process joins its groups before it runs anything: the launcher is a shell that writes its own
 * pid into each `cgroup.procs`, then execs the sandbox (runtime-sandbox.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { isRoot } from './host.js';

export interface CgroupLimits {
  readonly memoryBytes: number;
  readonly pids: number;
}

export interface ProcessCgroup {
  /** Where it is, for health and logs. */
  readonly path: string;
  /** The files a process writes its pid to, to join every controller's group. */
  readonly procsFiles: readonly string[];
  readonly limits: CgroupLimits;
  /** Memory the group uses now (bytes), if readable. */
  memoryBytes(): number | undefined;
  /** How many times the kernel killed a process of the group for memory. */
  oomKills(): number;
  /** Removes the group (its processes must have exited); never throws. */
  remove(): void;
}

export interface CgroupSupport {
  readonly kind: 'v1' | 'v2' | 'none';
  /** Why there are no cgroups here (kind `none`). */
  readonly reason?: string;
  /** A new group named `name` under this service's own, or undefined when it cannot be made. */
  create(name: string, limits: CgroupLimits): ProcessCgroup | undefined;
  /** Removes this service's (empty) parent groups; never throws. */
  close(): void;
}

const ROOT = '/sys/fs/cgroup';
const SERVICE_DIR = 'lambda-microservice';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A file's number (memory.current and the like), if readable. */
function readNumber(path: string): number | undefined {
  const text = read(path);
  return text === undefined ? undefined : Number(text.trim());
}

function tryRmdir(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // busy (a process is still in it) or already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Groups left by a service that is gone (killed before it could remove them). */
function removeStale(base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    const dir = join(base, entry);
    let children: string[] = [];
    try {
      children = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      continue;
    }
    for (const child of children) tryRmdir(join(dir, child));
    tryRmdir(dir);
  }
}

function ownerDirs(controllerRoots: readonly string[]): string[] | string {
  const dirs: string[] = [];
  for (const root of controllerRoots) {
    const base = join(root, SERVICE_DIR);
    try {
      mkdirSync(base, { recursive: true });
      removeStale(base);
      const mine = join(base, String(process.pid));
      mkdirSync(mine, { recursive: true });
      dirs.push(mine);
    } catch (error) {
      return `cannot create a cgroup under ${root}: ${(error as Error).message}`;
    }
  }
  return dirs;
}

function groupV1(memoryDir: string, pidsDir: string, name: string, limits: CgroupLimits): ProcessCgroup | undefined {
  const memory = join(memoryDir, name);
  const pids = join(pidsDir, name);
  try {
    mkdirSync(memory, { recursive: true });
    mkdirSync(pids, { recursive: true });
    writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // Swap must not extend the limit where swap accounting exists.
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
    writeFileSync(join(pids, 'pids.max'), String(limits.pids));
  } catch {
    tryRmdir(memory);
    tryRmdir(pids);
    return undefined;
  }
  return {
    path: memory,
    procsFiles: [join(memory, 'cgroup.procs'), join(pids, 'cgroup.procs')],
    limits,
    memoryBytes: () => readNumber(join(memory, 'memory.usage_in_bytes')),
    oomKills: () => Number(/oom_kill (\d+)/.exec(read(join(memory, 'memory.oom_control')) ?? '')?.[1] ?? 0),
    remove: () => {
      tryRmdir(memory);
      tryRmdir(pids);
    },
  };
}

function groupV2(parent: string, name: string, limits: CgroupLimits): ProcessCgroup | undefined {
  const dir = join(parent, name);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
    if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    writeFileSync(join(dir, 'pids.max'), String(limits.pids));
  } catch {
    tryRmdir(dir);
    return undefined;
  }
  return {
    path: dir,
    procsFiles: [join(dir, 'cgroup.procs')],
    limits,
    memoryBytes: () => readNumber(join(dir, 'memory.current')),
    oomKills: () => Number(/oom_kill (\d+)/.exec(read(join(dir, 'memory.events')) ?? '')?.[1] ?? 0),
    remove: () => tryRmdir(dir),
  };
}

const NONE = (reason: string): CgroupSupport => ({ kind: 'none', reason, create: () => undefined, close: () => undefined });

/** What this machine allows; `enabled: false` (operator's choice) gives none. */
export function detectCgroups(enabled = true): CgroupSupport {
  if (!enabled) return NONE('disabled (RUNTIME_CGROUPS=false)');
  if (process.platform !== 'linux') return NONE(`no cgroups on ${process.platform}`);
  if (!isRoot()) return NONE('the service does not run as root, so it cannot create cgroups');
  if (existsSync(join(ROOT, 'memory', 'memory.limit_in_bytes')) || existsSync(join(ROOT, 'memory', 'cgroup.procs'))) {
    if (!existsSync(join(ROOT, 'pids', 'cgroup.procs'))) return NONE('cgroup v1 without the pids controller');
    const dirs = ownerDirs([join(ROOT, 'memory'), join(ROOT, 'pids')]);
    if (typeof dirs === 'string') return NONE(dirs);
    const [memoryDir, pidsDir] = dirs as [string, string];
    return {
      kind: 'v1',
      create: (name, limits) => groupV1(memoryDir, pidsDir, name, limits),
      close: () => {
        tryRmdir(memoryDir);
        tryRmdir(pidsDir);
      },
    };
  }
  const controllers = read(join(ROOT, 'cgroup.controllers'));
  if (controllers !== undefined) {
    if (!/\bmemory\b/.test(controllers) || !/\bpids\b/.test(controllers)) return NONE('cgroup v2 without the memory and pids controllers');
    const dirs = ownerDirs([ROOT]);
    if (typeof dirs === 'string') return NONE(dirs);
    const mine = dirs[0] as string;
    try {
      // Children of these groups get the controllers (the groups themselves hold no process).
      if (!/\bmemory\b/.test(read(join(ROOT, 'cgroup.subtree_control')) ?? '')) writeFileSync(join(ROOT, 'cgroup.subtree_control'), '+memory +pids');
      writeFileSync(join(ROOT, SERVICE_DIR, 'cgroup.subtree_control'), '+memory +pids');
      writeFileSync(join(mine, 'cgroup.subtree_control'), '+memory +pids');
    } catch (error) {
      tryRmdir(mine);
      return NONE(`cgroup v2 controllers cannot be delegated: ${(error as Error).message}`);
    }
    return { kind: 'v2', create: (name, limits) => groupV2(mine, name, limits), close: () => tryRmdir(mine) };
  }
  return NONE(`no cgroup hierarchy found under ${ROOT}`);
}
