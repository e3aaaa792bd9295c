// `npm run gen:config-docs` writes docs/configuration.md from the config schema (src/config/schema.ts),
// so the reference of every variable is the declaration itself; `--check` (part of
// `npm run check:generated`) fails when the committed file is stale.
import { readFileSync, writeFileSync } from 'node:fs';

import { ConfigSchema, type EnvLeaf } from '../src/config/schema.js';

type Node = Partial<EnvLeaf> & { properties?: Record<string, Node>; default?: unknown; minimum?: number; maximum?: number; description?: string; anyOf?: Array<{ const?: string }> };

function leaves(node: Node, path: string[] = []): Array<{ path: string; leaf: Node & EnvLeaf }> {
  if (node.env !== undefined) return [{ path: path.join('.'), leaf: node as Node & EnvLeaf }];
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) => leaves(child, [...path, key]));
}

function shown(leaf: Node & EnvLeaf): string {
  if (leaf.derived) return 'derived';
  if (leaf.default === undefined) return '—';
  if (Array.isArray(leaf.default)) return leaf.default.length === 0 ? 'none' : leaf.default.join(', ');
  return `\`${JSON.stringify(leaf.default).replace(/^"|"$/g, '')}\``;
}

function allowed(leaf: Node & EnvLeaf): string {
  if (leaf.parse === 'int') return `${leaf.minimum} … ${leaf.maximum}`;
  if (leaf.parse === 'oneOf') return (leaf.anyOf ?? []).map((o) => `\`${o.const}\``).join(', ');
  return { bool: 'true / false', list: 'comma-separated', endpoints: 'host:port, …', path: 'a path', url: 'http(s) URL', text: 'text' }[leaf.parse] ?? leaf.parse;
}

const rows = leaves(ConfigSchema as unknown as Node).map(({ path, leaf }) => `| \`${leaf.env}\` | ${shown(leaf)} | ${allowed(leaf)} | \`${path}\` | ${leaf.description ?? ''} |`);
const text = [
  '# Configuration',
  '',
  'Generated from `src/config/schema.ts` by `npm run gen:config-docs`; do not edit. Every setting is an',
  'environment variable, read once at start, checked against these bounds (a bad value stops the start',
  'naming the variable), and frozen. "derived" defaults follow from other settings (`src/config/config.ts`).',
  '',
  '| Variable | Default | Allowed | Setting | Meaning |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n');

const target = new URL('../docs/configuration.md', import.meta.url);
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // missing: stale
  }
  if (committed !== text) {
    process.stderr.write('docs/configuration.md does not match src/config/schema.ts (run npm run gen:config-docs)\n');
    process.exit(1);
  }
  process.stdout.write(`docs/configuration.md matches the config schema (${rows.length} variables)\n`);
} else {
  writeFileSync(target, text);
}
