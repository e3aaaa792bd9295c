import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { it } from 'node:test';
import { projectPath } from '../config/paths.js';

it('the generated gRPC types (src/rpc/generated/) match proto/ (npm run gen:proto)', () => {
  const out = execFileSync(process.execPath, [projectPath('scripts', 'check-generated.mjs')], { encoding: 'utf8' });
  assert.match(out, /matches proto\/ \(\d+ files\)/);
});
