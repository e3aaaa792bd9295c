/**
 * How a Python worker process is launched: under bubblewrap (the default), or, only when the
 * operator explicitly allows it, without a sandbox.
 *
 * The sandbox (one per worker, hence one per session):
 * - every namespace unshared (user, pid, network, ipc, uts, cgroup, mount) and no further user
 *   namespaces; inside, the worker is uid/gid 65534 with no capabilities, in a new session (no
 *   terminal injection), killed with its parent;
 * - run by an unprivileged host uid too: when the service runs as root, bubblewrap is started
 *   through `setpriv --reuid 65534`, because RLIMIT_NPROC (no fork, no threads) is not enforced for
 *   a process whose real uid is root, and a worker is then never root in any namespace;
 * - a file system of only `/usr` (read-only, `/usr/local` hidden), the Debian `/bin`, `/lib*`
 *   symlinks, the worker program (read-only, from a pipe: the project's folders are never mounted),
 *   a private size-limited `/tmp`, a fresh `/proc` of its own pid namespace and a minimal `/dev`;
 *   everything else, including `/`, is read-only and empty;
 * - an empty environment;
 * - the seccomp filter of seccomp.ts;
 * - rlimits set by the worker itself before it reads any request (it runs unprivileged, so a
 *   script cannot raise them again): address space, CPU time, processes, file size, open files.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

import { BWRAP_CANDIDATES, firstExisting, isRoot, rootLinks, SANDBOX_UID, SETPRIV_CANDIDATES } from '../../sandbox/host.js';
import { dropRootPrefix, isolationArgs } from '../../sandbox/bubblewrap.js';
import { sandboxSeccompFilter, workerSeccompFilter } from '../../sandbox/seccomp.js';

const execFileAsync = promisify(execFile);

/** Where the worker program sits inside the sandbox. */
export const SANDBOX_WORKER_PATH = '/sandbox/worker.py';

/** File descriptors of a worker child: the protocol on 0/1, diagnostics on 2, then the sandbox's own. */
export const FD_SECCOMP = 3;
export const FD_INFO = 4;
export const FD_WORKER_SOURCE = 5;

export interface SandboxSettings {
  readonly pythonPath: string;
  /** The guest program on the host (src/runtimes/python/guest/worker.py). */
  readonly workerHostPath: string;
  readonly bwrapPath?: string;
  readonly setprivPath?: string;
  readonly tmpSizeBytes: number;
  readonly allowUnsandboxed: boolean;
}

export interface LaunchPlan {
  /** `bubblewrap` or `none` (PYTHON_ALLOW_UNSANDBOXED). */
  readonly kind: 'bubblewrap' | 'none';
  readonly command: string;
  /** Arguments up to the worker program; its config argument follows. */
  readonly args: readonly string[];
  /** Where the worker program is, as the launched python sees it. */
  readonly workerPath: string;
  /** Bytes for FD_SECCOMP, when the filter applies. */
  readonly seccomp: Buffer | undefined;
  /** The filter the worker installs on itself (see seccomp.ts), when one applies here. */
  readonly workerFilter: Buffer | undefined;
  /** True when the worker program travels on FD_WORKER_SOURCE (bubblewrap). */
  readonly workerFromFd: boolean;
  /** True when the python's host pid arrives as JSON on FD_INFO (bubblewrap). */
  readonly pidFromInfoFd: boolean;
  /** Passed to the worker: the RLIMIT_NPROC it sets (undefined: none, e.g. root without a sandbox). */
  readonly maxProcesses: number | undefined;
  /** Directory the worker runs in, inside its view. */
  readonly workdir: string;
  /** Facts for health. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Why the sandbox cannot be used: reported in health, and in every refused call. */
export class SandboxUnavailable extends Error {}


async function bwrapVersion(bwrap: string): Promise<[number, number, number]> {
  const { stdout } = await execFileAsync(bwrap, ['--version'], { timeout: 5000, env: {} });
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(stdout);
  if (!match) throw new SandboxUnavailable(`cannot read the bubblewrap version from "${stdout.trim()}"`);
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

function atLeast(version: readonly number[], wanted: readonly number[]): boolean {
  for (let i = 0; i < wanted.length; i++) {
    const have = version[i] ?? 0;
    const want = wanted[i] ?? 0;
    if (have !== want) return have > want;
  }
  return true;
}

/**
 * The launch plan for this machine: `sandboxed` under bubblewrap (throws SandboxUnavailable with
 * the reason when it cannot be used), or `unsandboxed`, which the caller may only ask for when the
 * operator allowed it (PYTHON_ALLOW_UNSANDBOXED).
 */
export async function planLaunch(settings: SandboxSettings, mode: 'sandboxed' | 'unsandboxed'): Promise<LaunchPlan> {
  if (!existsSync(settings.pythonPath)) throw new SandboxUnavailable(`${settings.pythonPath} does not exist (Debian package python3)`);
  const setpriv = firstExisting(SETPRIV_CANDIDATES, settings.setprivPath);
  if (mode === 'sandboxed') return planBubblewrap(settings, setpriv);
  if (!settings.allowUnsandboxed) throw new SandboxUnavailable('running Python without a sandbox is not allowed (PYTHON_ALLOW_UNSANDBOXED)');
  return planUnsandboxed(settings, setpriv);
}

async function planBubblewrap(settings: SandboxSettings, setpriv: string | undefined): Promise<LaunchPlan> {
  const bwrap = firstExisting(BWRAP_CANDIDATES, settings.bwrapPath);
  if (!bwrap) throw new SandboxUnavailable('bubblewrap (bwrap) is not installed (Debian package bubblewrap; `npm run setup` installs it as root)');
  let version: [number, number, number];
  try {
    version = await bwrapVersion(bwrap);
  } catch (error) {
    if (error instanceof SandboxUnavailable) throw error;
    throw new SandboxUnavailable(`${bwrap} --version failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!atLeast(version, [0, 8, 0])) {
    throw new SandboxUnavailable(`bubblewrap ${version.join('.')} is too old: 0.8.0 or newer is needed (--disable-userns, --size)`);
  }
  const root = isRoot();
  if (root && !setpriv) throw new SandboxUnavailable('running as root needs setpriv (util-linux) to start workers unprivileged');
  const seccomp = sandboxSeccompFilter();
  const workerFilter = workerSeccompFilter({ everything: false });
  const bwrapArgs = [
    ...isolationArgs({ nestedSandboxes: false, asPid1: true }),
    '--ro-bind', '/usr', '/usr',
    // Host-specific installs (and whatever an operator keeps there) stay out of sight.
    '--tmpfs', '/usr/local',
    '--remount-ro', '/usr/local',
    ...rootLinks(),
    '--ro-bind-data', String(FD_WORKER_SOURCE), SANDBOX_WORKER_PATH,
    '--size', String(settings.tmpSizeBytes),
    '--tmpfs', '/tmp',
    '--proc', '/proc',
    '--dev', '/dev',
    '--remount-ro', '/dev',
    '--remount-ro', '/',
    '--chdir', '/tmp',
    '--info-fd', String(FD_INFO),
    ...(seccomp ? ['--seccomp', String(FD_SECCOMP)] : []),
    '--',
    settings.pythonPath,
    '-I',
    '-S',
    SANDBOX_WORKER_PATH,
  ];
  const [command, ...args] = [...dropRootPrefix(setpriv, root), bwrap, ...bwrapArgs] as [string, ...string[]];
  return {
    kind: 'bubblewrap',
    command,
    args,
    workerPath: SANDBOX_WORKER_PATH,
    seccomp,
    workerFilter,
    workerFromFd: true,
    pidFromInfoFd: true,
    // The worker is the only process of its user namespace (--as-pid-1): one is all it may have.
    maxProcesses: 1,
    workdir: '/tmp',
    details: {
      sandbox: 'bubblewrap',
      bubblewrap: version.join('.'),
      seccomp: seccomp !== undefined,
      execBlocked: workerFilter !== undefined,
      hostUid: root ? SANDBOX_UID : process.getuid?.(),
    },
  };
}

function planUnsandboxed(settings: SandboxSettings, setpriv: string | undefined): LaunchPlan {
  const root = isRoot();
  // Still drop root where possible: a script then cannot write what only root can.
  const dropRoot = root && setpriv !== undefined;
  const command = dropRoot && setpriv ? setpriv : settings.pythonPath;
  const pythonArgs = ['-I', '-S', settings.workerHostPath];
  return {
    kind: 'none',
    command,
    args: dropRoot ? ['--reuid', String(SANDBOX_UID), '--regid', String(SANDBOX_UID), '--clear-groups', '--', settings.pythonPath, ...pythonArgs] : pythonArgs,
    workerPath: settings.workerHostPath,
    seccomp: undefined,
    // No bubblewrap to install the main filter: the worker installs it with its own.
    workerFilter: workerSeccompFilter({ everything: true }),
    workerFromFd: false,
    pidFromInfoFd: false,
    maxProcesses: root && !dropRoot ? undefined : 64,
    workdir: '/',
    details: { sandbox: 'none', seccomp: workerSeccompFilter({ everything: true }) !== undefined, hostUid: dropRoot ? SANDBOX_UID : process.getuid?.() },
  };
}
