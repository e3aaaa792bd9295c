/**
 * How a Python worker process is launched: under bubblewrap (the default), or, only when the
 * operator explicitly allows it, without a sandbox. The sandbox, one per worker (so one per session):
 * - the isolation of src/sandbox/bubblewrap.ts (every namespace, uid/gid 65534, no capabilities,
 *   an empty environment, a new session, killed with its parent), plus the seccomp filter of
 *   seccomp.ts; as root, bubblewrap starts through `setpriv --reuid 65534`, because RLIMIT_NPROC
 *   (no fork, no threads) is not enforced for a process whose real uid is root;
 * - a file system of only `/usr` (read-only, `/usr/local` hidden), the Debian `/bin`, `/lib*`
 *   links, the worker program (read-only, from a pipe: the project's folders are never mounted),
 *   a private size-limited `/tmp`, its own `/proc` and a minimal `/dev`; `/` read-only and empty;
 * - packages (packages.ts): PYTHON_PACKAGES_DIR read-only at /packages; with
 *   PYTHON_SYSTEM_PACKAGES, Debian's dist-packages (in /usr already) and `/etc/alternatives`
 *   (read-only symlinks: Debian's numpy finds its BLAS and LAPACK through them), otherwise
 *   dist-packages hidden, so what a script can import is what GET /api/v1/runtimes lists;
 * - rlimits the worker sets itself before it reads any request (it runs unprivileged, so a script
 *   cannot raise them again): address space, CPU time, processes, file size, open files.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { promisify } from 'node:util';

import { BWRAP_CANDIDATES, firstExisting, isRoot, reachableByOthers, SANDBOX_UID, SETPRIV_CANDIDATES } from '../../sandbox/host.js';
import { dropRootPrefix, isolationArgs, systemMounts } from '../../sandbox/bubblewrap.js';
import { sandboxSeccompFilter, workerSeccompFilter } from '../../sandbox/seccomp.js';
import { errorMessage } from '../kit/invocation.js';
import { SANDBOX_PACKAGES_DIR, SYSTEM_ALTERNATIVES_DIR, SYSTEM_PACKAGES_DIR } from './packages.js';
import type { PythonRuntimeOptions } from './python-runtime.js';

/** The guest program's files (guest/), the first the one python runs; inside the sandbox under /sandbox. */
export const GUEST_FILES = ['worker.py', 'reporting.py'] as const;
const SANDBOX_WORKER_PATH = `/sandbox/${GUEST_FILES[0]}`;

/** File descriptors of a worker child: the protocol on 0/1, diagnostics on 2, then the sandbox's own. */
export const FD_SECCOMP = 3;
export const FD_INFO = 4;
/** GUEST_FILES[i] is read by bubblewrap from descriptor FD_GUEST_FILES + i. */
export const FD_GUEST_FILES = 5;

/** The runtime's options (no bwrapPath or setprivPath: the usual places), and where the guest program is on the host. */
export type SandboxSettings = Pick<PythonRuntimeOptions, 'pythonPath' | 'bwrapPath' | 'setprivPath' | 'tmpSizeBytes' | 'allowUnsandboxed' | 'packagesDir' | 'systemPackages'> & {
  readonly workerHostPath: string;
};

export interface LaunchPlan {
  readonly kind: 'bubblewrap' | 'none';
  readonly command: string;
  /** Arguments up to the worker program; its config argument follows. */
  readonly args: readonly string[];
  /** Bytes for FD_SECCOMP, when the filter applies. */
  readonly seccomp: Buffer | undefined;
  /**
   * guest/worker.py's Config entries that depend on the launch: the RLIMIT_NPROC it sets (null: none,
   * e.g. root without a sandbox), the directory it runs in (inside its view), the filter it
   * installs on itself (base64, see seccomp.ts; null when none applies here), and the package
   * directories it appends to sys.path (inside its view).
   */
  readonly workerConfig: Readonly<{ maxProcesses: number | null; workdir: string; seccomp: string | null; packagePaths: readonly string[] }>;
  /** Facts for health. */
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * The launch plan for this machine: `sandboxed` under bubblewrap (throws why it cannot be used: the
 * reason health and every refused call report), or `unsandboxed`, which the caller may only ask
 * for when the operator allowed it (PYTHON_ALLOW_UNSANDBOXED).
 */
export async function planLaunch(settings: SandboxSettings, mode: 'sandboxed' | 'unsandboxed'): Promise<LaunchPlan> {
  if (!existsSync(settings.pythonPath)) throw new Error(`${settings.pythonPath} does not exist (Debian package python3)`);
  const root = isRoot();
  checkPackagesDir(settings.packagesDir, root);
  const setpriv = firstExisting(SETPRIV_CANDIDATES, settings.setprivPath);
  if (mode === 'sandboxed') return planBubblewrap(settings, root, setpriv);
  if (!settings.allowUnsandboxed) throw new Error('running Python without a sandbox is not allowed (PYTHON_ALLOW_UNSANDBOXED)');
  // Still drop root where possible: a script then cannot write what only root can.
  const dropRoot = dropRootPrefix(setpriv, root);
  const chain = [...dropRoot, settings.pythonPath, '-I', '-S', settings.workerHostPath];
  // No bubblewrap to install the main filter: the worker installs it with its own.
  const workerFilter = workerSeccompFilter({ everything: true });
  return {
    kind: 'none',
    command: chain[0] as string,
    args: chain.slice(1),
    seccomp: undefined,
    workerConfig: {
      maxProcesses: root && dropRoot.length === 0 ? null : 64,
      workdir: '/',
      seccomp: workerFilter?.toString('base64') ?? null,
      // No mount namespace: the host's paths.
      packagePaths: packagePaths(settings, false),
    },
    details: { sandbox: 'none', seccomp: workerFilter !== undefined, hostUid: dropRoot.length > 0 ? SANDBOX_UID : process.getuid?.() },
  };
}

async function planBubblewrap(settings: SandboxSettings, root: boolean, setpriv: string | undefined): Promise<LaunchPlan> {
  const bwrap = firstExisting(BWRAP_CANDIDATES, settings.bwrapPath);
  if (!bwrap) throw new Error('bubblewrap (bwrap) is not installed (Debian package bubblewrap; `npm run setup` installs it as root)');
  const { stdout } = await promisify(execFile)(bwrap, ['--version'], { timeout: 5000, env: {} }).catch((error: unknown) => {
    throw new Error(`${bwrap} --version failed: ${errorMessage(error)}`);
  });
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(stdout);
  if (!match) throw new Error(`cannot read the bubblewrap version from "${stdout.trim()}"`);
  const version = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  if (version[0] === 0 && (version[1] ?? 0) < 8) throw new Error(`bubblewrap ${version.join('.')} is too old: 0.8.0 or newer is needed (--disable-userns, --size)`);
  if (root && !setpriv) throw new Error('running as root needs setpriv (util-linux) to start workers unprivileged');
  const seccomp = sandboxSeccompFilter();
  const workerFilter = workerSeccompFilter({ everything: false });
  const bwrapArgs = [
    ...isolationArgs({ nestedSandboxes: false, asPid1: true }),
    ...systemMounts(settings.tmpSizeBytes),
    // Host-specific installs (and whatever an operator keeps there) stay out of sight.
    '--tmpfs', '/usr/local',
    '--remount-ro', '/usr/local',
    ...packageMounts(settings),
    ...GUEST_FILES.flatMap((name, i) => ['--ro-bind-data', String(FD_GUEST_FILES + i), `/sandbox/${name}`]),
    '--remount-ro', '/dev',
    '--remount-ro', '/',
    '--chdir', '/tmp',
    '--info-fd', String(FD_INFO),
    ...(seccomp ? ['--seccomp', String(FD_SECCOMP)] : []),
    '--',
    settings.pythonPath, '-I', '-S', SANDBOX_WORKER_PATH,
  ];
  const [command, ...args] = [...dropRootPrefix(setpriv, root), bwrap, ...bwrapArgs] as [string, ...string[]];
  return {
    kind: 'bubblewrap',
    command,
    args,
    seccomp,
    // The worker is the only process of its user namespace (--as-pid-1): one is all it may have.
    workerConfig: { maxProcesses: 1, workdir: '/tmp', seccomp: workerFilter?.toString('base64') ?? null, packagePaths: packagePaths(settings, true) },
    details: { sandbox: 'bubblewrap', bubblewrap: version.join('.'), seccomp: seccomp !== undefined, execBlocked: workerFilter !== undefined, hostUid: root ? SANDBOX_UID : process.getuid?.() },
  };
}

/** PYTHON_PACKAGES_DIR must be a directory the workers can read (as uid 65534 when the service runs as root). */
function checkPackagesDir(dir: string | undefined, root: boolean): void {
  if (dir === undefined) return;
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    throw new Error(`PYTHON_PACKAGES_DIR ${dir} does not exist`);
  }
  if (!isDirectory) throw new Error(`PYTHON_PACKAGES_DIR ${dir} is not a directory`);
  if (root && !reachableByOthers(dir, { readable: true })) throw new Error(`uid ${SANDBOX_UID} cannot read PYTHON_PACKAGES_DIR ${dir}: make it and its parent directories readable and searchable by others`);
}

/** sys.path entries after the standard library, in this order: the operator's packages, then Debian's. */
function packagePaths(settings: SandboxSettings, sandboxed: boolean): string[] {
  const paths = settings.packagesDir === undefined ? [] : [sandboxed ? SANDBOX_PACKAGES_DIR : settings.packagesDir];
  if (settings.systemPackages && existsSync(SYSTEM_PACKAGES_DIR)) paths.push(SYSTEM_PACKAGES_DIR);
  return paths;
}

/**
 * The package directories of a worker's view, read-only: a bind mount shows the directory's own
 * entries, and a symlink among them resolves inside the sandbox's view (never to the host's /etc
 * or the project).
 */
function packageMounts(settings: SandboxSettings): string[] {
  const mounts = settings.packagesDir !== undefined ? ['--ro-bind', settings.packagesDir, SANDBOX_PACKAGES_DIR] : [];
  if (settings.systemPackages) {
    if (existsSync(SYSTEM_ALTERNATIVES_DIR)) mounts.push('--ro-bind', SYSTEM_ALTERNATIVES_DIR, SYSTEM_ALTERNATIVES_DIR);
  } else if (existsSync(SYSTEM_PACKAGES_DIR)) {
    mounts.push('--tmpfs', SYSTEM_PACKAGES_DIR, '--remount-ro', SYSTEM_PACKAGES_DIR);
  }
  return mounts;
}
