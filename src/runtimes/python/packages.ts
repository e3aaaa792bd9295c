/**
 * The Python packages a script may import, beyond the standard library: an operator's directory
 * (PYTHON_PACKAGES_DIR, e.g. a virtualenv's site-packages), mounted read-only in every worker at
 * /packages, and, with PYTHON_SYSTEM_PACKAGES, Debian's python3-* packages in
 * /usr/lib/python3/dist-packages (sandbox.ts mounts them, guest/worker.py puts them on sys.path
 * after the standard library, in this order).
 *
 * The listing (GET /api/v1/runtimes) reads the packages' metadata on the host, as pip does:
 * `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` or an `*.egg-info` file (Debian's older packages),
 * their `Name:` and `Version:` headers. No python process runs for it. Each directory's listing is
 * kept until the directory changes (installing or removing a package adds or removes an entry,
 * which changes its mtime). Entries that are symlinks are not listed, nor metadata files that are
 * symlinks: in the sandbox a symlink resolves inside the worker's view, not the host's.
 */
import { constants, existsSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { Config } from '../../config/config.js';

/** Where PYTHON_PACKAGES_DIR is in a worker's view. */
export const SANDBOX_PACKAGES_DIR = '/packages';
/** Debian's python3-* packages (the same path in the sandbox: /usr is mounted). */
export const SYSTEM_PACKAGES_DIR = '/usr/lib/python3/dist-packages';
/** Debian's alternatives: libblas.so.3 and liblapack.so.3 (numpy's) are symlinks through here. */
export const SYSTEM_ALTERNATIVES_DIR = '/etc/alternatives';

export interface PythonPackage {
  readonly name: string;
  readonly version: string;
}

export type PythonPackageSettings = Pick<Config['python'], 'packagesDir' | 'systemPackages'>;

/** The metadata headers are at the top; the long description after them is not read. */
const HEADER_BYTES = 16 * 1024;

const listings = new Map<string, { readonly mtimeMs: number; readonly packages: Promise<readonly PythonPackage[]> }>();

/** The host directories whose packages scripts see, in sys.path order. */
function packageDirs(settings: PythonPackageSettings): string[] {
  return [...(settings.packagesDir === undefined ? [] : [settings.packagesDir]), ...(settings.systemPackages ? [SYSTEM_PACKAGES_DIR] : [])];
}

/**
 * The host directories a worker's sandbox binds read-only for its packages (beyond /usr): what a
 * runtime process, itself sandboxed, must see to hand them on. Only those that exist: a missing
 * PYTHON_PACKAGES_DIR is then reported by the Python runtime, by name, not by bubblewrap.
 */
export function pythonSandboxMounts(settings: PythonPackageSettings): string[] {
  return [...(settings.packagesDir === undefined ? [] : [settings.packagesDir]), ...(settings.systemPackages ? [SYSTEM_ALTERNATIVES_DIR] : [])].filter((dir) => existsSync(dir));
}

/**
 * Every package scripts may import, by name (a name in both directories is the one import finds:
 * the operator's). A directory that is missing or unreadable lists nothing.
 */
export async function listPythonPackages(settings: PythonPackageSettings): Promise<PythonPackage[]> {
  const byName = new Map<string, PythonPackage>();
  for (const dir of packageDirs(settings)) {
    for (const found of await packagesIn(dir)) {
      const key = normalizedName(found.name);
      if (!byName.has(key)) byName.set(key, found);
    }
  }
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, found]) => found);
}

/** PEP 503: `python_dateutil`, `python-dateutil` and `Python.Dateutil` name one project. */
function normalizedName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

async function packagesIn(dir: string): Promise<readonly PythonPackage[]> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(dir)).mtimeMs;
  } catch {
    listings.delete(dir);
    return [];
  }
  const cached = listings.get(dir);
  if (cached?.mtimeMs === mtimeMs) return cached.packages;
  const packages = readPackages(dir);
  listings.set(dir, { mtimeMs, packages });
  return packages;
}

async function readPackages(dir: string): Promise<readonly PythonPackage[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found = await Promise.all(
    entries.map(async (entry) => {
      const path = join(dir, entry.name);
      if (entry.name.endsWith('.dist-info') && entry.isDirectory()) return readMetadata(join(path, 'METADATA'), entry.name);
      if (entry.name.endsWith('.egg-info')) {
        if (entry.isDirectory()) return readMetadata(join(path, 'PKG-INFO'), entry.name);
        if (entry.isFile()) return readMetadata(path, entry.name);
      }
      return undefined;
    }),
  );
  return found.filter((entry): entry is PythonPackage => entry !== undefined);
}

/** `Name:` and `Version:` of a metadata file (RFC 822 headers), else what the entry's name says (`PyYAML-6.0.dist-info`). */
async function readMetadata(file: string, entryName: string): Promise<PythonPackage | undefined> {
  const headers = new Map<string, string>();
  try {
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const buffer = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, HEADER_BYTES, 0);
      for (const line of buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/)) {
        if (line === '') break;
        const match = /^(Name|Version):\s*(.*?)\s*$/i.exec(line);
        const key = match?.[1]?.toLowerCase();
        if (key && match?.[2] && !headers.has(key)) headers.set(key, match[2]);
      }
    } finally {
      await handle.close();
    }
  } catch {
    // No readable metadata: the entry's name may still tell.
  }
  const fromEntry = /^(.+?)-([^-]+?)(?:-py\d[^-]*)?\.(?:dist|egg)-info$/.exec(entryName);
  const name = headers.get('name') ?? fromEntry?.[1];
  const version = headers.get('version') ?? fromEntry?.[2];
  return name && version ? { name, version } : undefined;
}
