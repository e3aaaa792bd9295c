/**
 * The parts every bubblewrap sandbox of the project starts with (the runtime processes, the Python
 * workers, rustc): every namespace, no user namespaces inside unless the sandbox builds its own, no
 * controlling terminal, an empty environment, uid/gid 65534, no capabilities, a hostname of its own;
 * and, as root, the `setpriv` prefix that drops to 65534 on the host before the sandbox is built (so
 * the user namespace maps the sandbox to an unprivileged host uid, not to root). Each caller adds
 * its own mounts, limits and command.
 */
import { rootLinks, SANDBOX_UID } from './host.js';

export interface IsolationOptions {
  /** The sandboxed program builds sandboxes of its own (needs user namespaces inside). */
  readonly nestedSandboxes: boolean;
  /** The program runs as pid 1 of its namespace (bubblewrap's own init skipped). */
  readonly asPid1: boolean;
}

/** Isolation flags; `--setenv`s must come after them (they follow `--clearenv`). */
export function isolationArgs(options: IsolationOptions): string[] {
  return [
    '--unshare-all',
    '--unshare-user',
    ...(options.nestedSandboxes ? [] : ['--disable-userns']),
    '--die-with-parent',
    '--new-session',
    ...(options.asPid1 ? ['--as-pid-1'] : []),
    '--clearenv',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--cap-drop', 'ALL',
    // Its own name: /proc/sys/kernel/hostname or gethostname() must not tell the host's.
    '--hostname', 'sandbox',
  ];
}

/**
 * The system a sandboxed program runs on (the runtime processes, the Python workers): the host's
 * /usr read-only with the root's links into it (/bin, /lib...), a private /tmp (of `tmpSizeBytes`
 * when given), and a /proc and /dev of its own. It comes before the caller's own mounts, so that
 * one under /tmp is not hidden by it.
 */
export function systemMounts(tmpSizeBytes?: number): string[] {
  const size = tmpSizeBytes === undefined ? [] : ['--size', String(tmpSizeBytes)];
  return ['--ro-bind', '/usr', '/usr', ...rootLinks(), ...size, '--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev'];
}

/** As root (with setpriv found): the command prefix that drops to uid/gid 65534 with no groups; otherwise none. */
export function dropRootPrefix(setpriv: string | undefined, asRoot: boolean): string[] {
  return asRoot && setpriv ? [setpriv, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, '--clear-groups', '--'] : [];
}
