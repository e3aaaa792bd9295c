/**
 * A PYTHON_PACKAGES_DIR for tests, as an operator would provide one (a virtualenv's
 * site-packages): modules and their `*.dist-info/METADATA`, under a fresh directory of the host's
 * tmp, readable by the sandbox's uid (the runtime checks that, as root). `site-packages` is the
 * directory to configure; the directory above it holds files a symlink may point at from inside.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface TestPackagesDir {
  /** The directory to configure as PYTHON_PACKAGES_DIR. */
  readonly dir: string;
  /** Its parent (outside the packages). */
  readonly parent: string;
  remove(): void;
}

export interface PackagesLayout {
  /** Paths under the packages directory and their contents. */
  readonly files?: Readonly<Record<string, string>>;
  /** name → version: a `<name>-<version>.dist-info/METADATA` each. */
  readonly distributions?: Readonly<Record<string, string>>;
  /** Paths under the packages directory and where their symlinks point. */
  readonly symlinks?: Readonly<Record<string, string>>;
  /** Paths under the parent (outside the packages) and their contents. */
  readonly outside?: Readonly<Record<string, string>>;
  /** Every file and directory writable by anyone, the sandbox's uid included: only the read-only mount then protects them. */
  readonly writableByAll?: boolean;
}

export function makePackagesDir(layout: PackagesLayout): TestPackagesDir {
  const parent = mkdtempSync(join(tmpdir(), 'lm-test-pypackages-'));
  chmodSync(parent, 0o755);
  const dir = join(parent, 'site-packages');
  const write = (path: string, content: string): void => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileSync(path, content, { mode: 0o644 });
  };
  mkdirSync(dir, { mode: 0o755 });
  for (const [path, content] of Object.entries(layout.files ?? {})) write(join(dir, path), content);
  for (const [name, version] of Object.entries(layout.distributions ?? {})) {
    write(join(dir, `${name.replace(/-/g, '_')}-${version}.dist-info`, 'METADATA'), `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: a test package\n\nA long description.\nName: not-this-one\n`);
  }
  for (const [path, target] of Object.entries(layout.symlinks ?? {})) symlinkSync(target, join(dir, path));
  for (const [path, content] of Object.entries(layout.outside ?? {})) write(join(parent, path), content);
  // Whatever the umask: readable (or writable) by others; symlinks themselves are left alone.
  setModes(parent, layout.writableByAll ? { dir: 0o777, file: 0o666 } : { dir: 0o755, file: 0o644 });
  return { dir, parent, remove: () => rmSync(parent, { recursive: true, force: true }) };
}

function setModes(dir: string, modes: { readonly dir: number; readonly file: number }): void {
  chmodSync(dir, modes.dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) setModes(path, modes);
    else if (entry.isFile()) chmodSync(path, modes.file);
  }
}
