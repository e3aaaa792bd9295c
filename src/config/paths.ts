import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root folder (where package.json is), found the same way whether the code runs
 * from src/ through tsx or compiled under dist/: files loaded by path (migrations, guest code that
 * runs inside sandboxes) are read from the source tree, never copied into dist/.
 */
function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (package.json beside migrations/)');
    dir = parent;
  }
}

export const PROJECT_ROOT = findProjectRoot();

export function projectPath(...segments: string[]): string {
  return join(PROJECT_ROOT, ...segments);
}
