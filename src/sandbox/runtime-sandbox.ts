/**
 * How a runtime process is launched: the one process per language (or several) where untrusted
 * code runs and untrusted input is parsed, outside the service process. The process is the trust
 * boundary, not a V8 isolate: whatever a script does to its process (a V8 abort, memory V8 does not
 * count, a stalled event loop) ends there.
 *
 * The sandbox, under bubblewrap (like the Python workers', src/runtimes/python/sandbox.ts):
 * - every namespace unshared (user, pid, network, ipc, uts, cgroup, mount): no network at all (the
 *   loopback of its own namespace only), its own hostname, its own pids (`--as-pid-1`), killed
 *   with the service;
 * - uid/gid 65534 inside, and outside too when the service runs as root (`setpriv` first, so the
 *   user namespace maps to an unprivileged host uid), no capabilities, a new session;
 * - a file system of `/usr` (read-only; Node.js, Python and the Rust toolchain live there), the
 *   Debian `/bin`, `/lib*` links, the parts of the project the runtime's own code needs (read-only:
 *   `src` or `dist`, `node_modules`, `package.json`, `migrations`, `proto`), a private `/tmp`, its own
 *   `/proc` and a minimal `/dev`; never `DATA_DIR`, `.git` or anything else of the host, except
 *   directories the runtime must write (the Rust toolchain cache) and ones its own sandboxes
 *   mount read-only (the Python packages);
 * - an empty environment, open-file and core-dump limits (prlimit), and a seccomp filter
 *   (src/sandbox/seccomp.ts): the workers' deny list, less what a nested sandbox needs for the
 *   Python and Rust processes (they start their own per-worker and per-compile sandboxes);
 * - a cgroup where the machine allows it (cgroup.ts): memory.max and pids.max.
 *
 * Without bubblewrap it is refused unless the operator allowed RUNTIME_ALLOW_UNSANDBOXED: the
 * process is then a plain child (crashes are still contained, the host is not hidden).
 */
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { Language } from '../runtimes/runtime.js';
import type { ProcessCgroup } from './cgroup.js';
import { BWRAP_CANDIDATES, firstExisting, isRoot, reachableByOthers, SANDBOX_UID, SETPRIV_CANDIDATES } from './host.js';
import { dropRootPrefix, isolationArgs, systemMounts } from './bubblewrap.js';
import { runtimeProcessSeccompFilter } from './seccomp.js';

/** Descriptors of a runtime process: logs on 2, then the frame channel, bubblewrap's seccomp and info. */
export const FD_CHANNEL = 3;
export const FD_SECCOMP = 4;
export const FD_INFO = 5;

/** The project's parts a runtime process loads (read-only), the rest of the tree stays out of sight. */
const PROJECT_PARTS = ['src', 'dist', 'node_modules', 'package.json', 'migrations', 'proto', 'tsconfig.json'];
const PRLIMIT_CANDIDATES = ['/usr/bin/prlimit', '/bin/prlimit'];
const MAX_OPEN_FILES = 8192;

export interface RuntimeSandboxSettings {
  readonly language: Language;
  readonly projectRoot: string;
  /** How node runs the entry point: the node binary, its flags (`--no-node-snapshot`, a loader), the script. */
  readonly execPath: string;
  readonly execArgv: readonly string[];
  readonly script: string;
  /** Directories the process writes (bound read-write at the same path). */
  readonly writableDirs: readonly string[];
  /** Host directories the process reads (bound read-only at the same path): what its workers' sandboxes mount. */
  readonly readOnlyDirs?: readonly string[];
  /** Host directories bound read-write elsewhere (a transpile cache in development). */
  readonly extraBinds?: ReadonlyArray<{ readonly source: string; readonly target: string }>;
  /** The process starts sandboxes of its own (Python workers, rustc). */
  readonly nestedSandboxes: boolean;
  /** RUNTIME_ALLOW_UNSANDBOXED: start a plain child where bubblewrap cannot run. */
  readonly allowUnsandboxed: boolean;
}

export interface RuntimeProcessLaunch {
  readonly kind: 'bubblewrap' | 'none';
  readonly command: string;
  /** Up to and including the entry script; the process's settings (JSON) follow. */
  readonly args: readonly string[];
  /** Written to FD_SECCOMP, where a filter applies. */
  readonly seccomp: Buffer | undefined;
  /** Facts for health. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Why a runtime process cannot be sandboxed here: reported in health and in every refused call. */
export class RuntimeSandboxUnavailable extends Error {}

/** How to start one runtime process here: under bubblewrap, or (only where allowed) a plain child; throws RuntimeSandboxUnavailable with the reason. */
export function planRuntimeProcess(settings: RuntimeSandboxSettings): RuntimeProcessLaunch {
  const nodeArgs = [...settings.execArgv, settings.script];
  const bwrap = firstExisting(BWRAP_CANDIDATES);
  if (!bwrap) {
    if (settings.allowUnsandboxed) {
      return { kind: 'none', command: settings.execPath, args: nodeArgs, seccomp: undefined, details: { sandbox: 'none (RUNTIME_ALLOW_UNSANDBOXED)' } };
    }
    throw new RuntimeSandboxUnavailable(
      'bubblewrap (bwrap) is not installed, so runtime processes cannot be sandboxed (Debian package bubblewrap; `npm run setup` installs it as root; RUNTIME_ALLOW_UNSANDBOXED=true runs them unsandboxed, which is unsafe)',
    );
  }
  const root = isRoot();
  const setpriv = firstExisting(SETPRIV_CANDIDATES);
  if (root && !setpriv) throw new RuntimeSandboxUnavailable('running as root needs setpriv (util-linux) to start runtime processes unprivileged');
  if (root && !reachableByOthers(settings.projectRoot)) {
    throw new RuntimeSandboxUnavailable(`uid ${SANDBOX_UID} cannot reach the project at ${settings.projectRoot}: make its parent directories world-searchable (chmod o+x)`);
  }
  const prlimit = firstExisting(PRLIMIT_CANDIDATES);
  const seccomp = runtimeProcessSeccompFilter({ nestedSandboxes: settings.nestedSandboxes });
  const projectBinds: string[] = [];
  for (const part of PROJECT_PARTS) {
    const path = join(settings.projectRoot, part);
    if (existsSync(path)) projectBinds.push('--ro-bind', path, path);
  }
  const writable: string[] = [];
  for (const dir of settings.writableDirs) writable.push('--bind', dir, dir);
  const readOnly = (settings.readOnlyDirs ?? []).flatMap((dir) => ['--ro-bind', dir, dir]);
  for (const bind of settings.extraBinds ?? []) writable.push('--bind', bind.source, bind.target);
  // Node.js itself, where it is not under /usr (nvm, /opt).
  const nodeBinary = settings.execPath.startsWith('/usr/') ? [] : ['--ro-bind', settings.execPath, settings.execPath];
  const bwrapArgs = [
    // The Node.js process needs no namespace of its own making; the others build their sandboxes' ones.
    ...isolationArgs({ nestedSandboxes: settings.nestedSandboxes === true, asPid1: true }),
    '--setenv', 'PATH', '/usr/bin:/bin',
    '--setenv', 'HOME', '/tmp',
    ...systemMounts(),
    // Debian's alternatives (cc, c++ and the like are links through /etc/alternatives): cargo's build
    // scripts link with `cc` when the Rust process builds its crates on a first start.
    ...(settings.language === 'rust' && existsSync('/etc/alternatives') ? ['--ro-bind', '/etc/alternatives', '/etc/alternatives'] : []),
    ...nodeBinary,
    ...projectBinds,
    ...readOnly,
    ...writable,
    '--remount-ro', '/',
    '--chdir', settings.projectRoot,
    '--info-fd', String(FD_INFO),
    ...(seccomp ? ['--seccomp', String(FD_SECCOMP)] : []),
    '--',
    settings.execPath,
    ...nodeArgs,
  ];
  const dropRoot = dropRootPrefix(setpriv, root);
  const limits = prlimit ? [prlimit, `--nofile=${MAX_OPEN_FILES}`, '--core=0', '--'] : [];
  const chain = [...limits, ...dropRoot, bwrap, ...bwrapArgs];
  return {
    kind: 'bubblewrap',
    command: chain[0] as string,
    args: chain.slice(1),
    seccomp,
    details: { sandbox: 'bubblewrap', seccomp: seccomp !== undefined, hostUid: root ? SANDBOX_UID : process.getuid?.(), network: 'none' },
  };
}

/**
 * The launch wrapped so that the process joins `cgroup` before it runs anything: a shell writes
 * its own pid into each group's `cgroup.procs`, then execs the launch (its children inherit the
 * groups). Exits 125 when it cannot join.
 */
export function joiningCgroup(launch: Pick<RuntimeProcessLaunch, 'command' | 'args'>, cgroup: ProcessCgroup | undefined): { command: string; args: string[] } {
  if (!cgroup) return { command: launch.command, args: [...launch.args] };
  const script = 'for f in "$@"; do [ "$f" = "--" ] && break; echo $$ > "$f" || exit 125; done; while [ "$1" != "--" ]; do shift; done; shift; exec "$@"';
  return { command: '/bin/sh', args: ['-c', script, 'lm-cgroup', ...cgroup.procsFiles, '--', launch.command, ...launch.args] };
}

/**
 * A host directory a runtime process (uid 65534 inside) may write: created if missing, and given
 * to uid 65534 when the service runs as root (it then starts runtime processes as that uid).
 */
export function sandboxWritableDir(path: string): string {
  // Parents as any directory is made (searchable), the directory itself private to the sandbox's uid.
  mkdirSync(dirname(path), { recursive: true });
  if (!existsSync(path)) mkdirSync(path, { mode: 0o700 });
  if (isRoot()) {
    // The sandbox binds it by path, as uid 65534: the way there must be searchable (DATA_DIR o+x; listing it needs no more).
    if (!reachableByOthers(dirname(path))) throw new RuntimeSandboxUnavailable(`uid ${SANDBOX_UID} cannot reach ${path}: make its parent directories searchable by others (chmod o+x, e.g. DATA_DIR)`);
    chownSync(path, SANDBOX_UID, SANDBOX_UID);
  }
  return path;
}
