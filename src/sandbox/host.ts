/**
 * What every sandbox built here (runtime processes, Python workers, rustc) needs to know of the
 * host: who runs the service, where its tools are, how its root links into /usr, and what the
 * unprivileged sandbox uid can reach.
 */
import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** The unprivileged uid and gid (nobody / nogroup) every sandbox runs as, inside and, for root, outside. */
export const SANDBOX_UID = 65534;

/** Where the sandboxes' tools are looked for (Debian's places first, then a local install). */
export const BWRAP_CANDIDATES: readonly string[] = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'];
export const SETPRIV_CANDIDATES: readonly string[] = ['/usr/bin/setpriv', '/bin/setpriv'];

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** `explicit` if given (and there), else the first of `candidates` that exists. */
export function firstExisting(candidates: readonly string[], explicit?: string): string | undefined {
  if (explicit !== undefined) return existsSync(explicit) ? explicit : undefined;
  return candidates.find((path) => existsSync(path));
}

/** `/bin`, `/lib`, `/lib64`... as the host has them, for bubblewrap: symlinks into /usr (merged /usr) or real folders. */
export function rootLinks(): string[] {
  const args: string[] = [];
  for (const path of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else if (stat.isDirectory()) args.push('--ro-bind', path, path);
  }
  return args;
}

/**
 * Whether a user other than the owner (the sandbox uid) can reach `path`: every directory above it
 * searchable by others, and `path` itself searchable (and, with `readable`, listable) by them.
 */
export function reachableByOthers(path: string, options: { readonly readable?: boolean } = {}): boolean {
  try {
    let current = realpathSync(path);
    const wanted = options.readable ? 0o005 : 0o001;
    if ((statSync(current).mode & wanted) !== wanted) return false;
    for (;;) {
      const parent = dirname(current);
      if (parent === current) return true;
      if ((statSync(parent).mode & 0o001) === 0) return false;
      current = parent;
    }
  } catch {
    return false;
  }
}
