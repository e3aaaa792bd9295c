/**
 * A script file as initialize takes it: its language from the extension (or --lang), the
 * Language-Title `<language>-<title>` (the title defaults to the file's name), and its content
 * (a `.wasm` module base64, as the service accepts ready WebAssembly modules).
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';

import { UsageError } from './exit-codes.js';

/** The languages a Language-Title can name by default (`typescript-` runs on the Node.js runtime). */
export const LANGUAGES = ['nodejs', 'typescript', 'python', 'rust'] as const;
export type Language = (typeof LANGUAGES)[number];

const BY_EXTENSION: Readonly<Record<string, Language>> = {
  '.js': 'nodejs',
  '.mjs': 'nodejs',
  '.cjs': 'nodejs',
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.py': 'python',
  '.rs': 'rust',
  // Ready WebAssembly modules run on the Rust runtime: WAT text, or a binary sent base64.
  '.wat': 'rust',
  '.wasm': 'rust',
};

const ALIASES: Readonly<Record<string, Language>> = { node: 'nodejs', js: 'nodejs', javascript: 'nodejs', ts: 'typescript', py: 'python', python3: 'python', rs: 'rust', wasm: 'rust' };

/** The service's Language-Title rule (src/execution/language-router.ts). */
const MAX_LANGUAGE_TITLE_LENGTH = 128;

export interface ScriptFile {
  readonly path: string;
  readonly language: Language;
  readonly languageTitle: string;
  /** What initialize's `script_content` carries. */
  readonly content: string;
  /** The text to quote in error frames (none for a binary module). */
  readonly source: string | undefined;
}

export function languageOf(path: string, lang?: string): Language {
  if (lang !== undefined) {
    const wanted = lang.toLowerCase();
    const language = (LANGUAGES as readonly string[]).includes(wanted) ? (wanted as Language) : ALIASES[wanted];
    if (!language) throw new UsageError(`--lang ${lang} is not one of ${LANGUAGES.join(', ')}`);
    return language;
  }
  const language = BY_EXTENSION[extname(path).toLowerCase()];
  if (!language) throw new UsageError(`cannot tell the language of ${path} from its extension (${Object.keys(BY_EXTENSION).join(' ')}); pass --lang`);
  return language;
}

/** `<language>-<title>`; the title defaults to the file's name without its extension, made to fit the rule. */
export function languageTitleOf(language: Language, path: string, title?: string): string {
  const name = title ?? (basename(path, extname(path)).replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[-.]+/, '') || 'script');
  return `${language}-${name}`.slice(0, MAX_LANGUAGE_TITLE_LENGTH);
}

export async function readScriptFile(path: string, options: { lang?: string | undefined; title?: string | undefined } = {}): Promise<ScriptFile> {
  const language = languageOf(path, options.lang);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new UsageError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const binary = extname(path).toLowerCase() === '.wasm';
  const source = binary ? undefined : bytes.toString('utf8');
  return { path, language, languageTitle: languageTitleOf(language, path, options.title), content: source ?? bytes.toString('base64'), source };
}
