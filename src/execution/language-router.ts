/**
 * Picks the language of a Language-Title with the runtime mapping of the contract: prefix and
 * regex rules, checked in order. The defaults are `nodejs-`, `python-`, `rust-`, `typescript-`
 * (the Node.js runtime, dialect TypeScript: transpiled at initialize) and `^js-`;
 * RUNTIME_MAPPINGS_FILE replaces them with a JSON file in the earlier implementation's
 * `runtime_mappings.json` form: `{ "mappings": [{ "pattern": "nodejs-", "language": "nodejs",
 * "type": "prefix" }, { "pattern": "^js-", "language": "nodejs", "type": "regex" }] }`.
 */
import { readFileSync } from 'node:fs';
import { ServiceError } from '../errors/service-error.js';
import { LANGUAGES, type Language } from '../runtimes/runtime.js';

/** A language's variant its runtime is told of: TypeScript is transpiled for the Node.js runtime. */
export type Dialect = 'typescript';

export interface MappingRule {
  readonly type: 'prefix' | 'regex';
  readonly pattern: string;
  readonly language: Language;
  readonly dialect?: Dialect;
}

export const DEFAULT_MAPPINGS: readonly MappingRule[] = [
  { type: 'prefix', pattern: 'nodejs-', language: 'nodejs' },
  { type: 'prefix', pattern: 'python-', language: 'python' },
  { type: 'prefix', pattern: 'rust-', language: 'rust' },
  { type: 'prefix', pattern: 'typescript-', language: 'nodejs', dialect: 'typescript' },
  { type: 'regex', pattern: '^js-', language: 'nodejs' },
];

/** `<language>-<title>`: letters, digits, `_`, `.` and `-`; the title part is not empty. */
const LANGUAGE_TITLE = /^[A-Za-z0-9]+-[A-Za-z0-9_.-]+$/;
export const MAX_LANGUAGE_TITLE_LENGTH = 128;

export interface ResolvedTitle {
  readonly language: Language;
  readonly dialect?: Dialect;
  readonly title: string;
  readonly languageTitle: string;
}

export class LanguageRouter {
  readonly #rules: readonly { rule: MappingRule; regex?: RegExp }[];

  constructor(rules: readonly MappingRule[] = DEFAULT_MAPPINGS) {
    this.#rules = rules.map((rule) => (rule.type === 'regex' ? { rule, regex: new RegExp(rule.pattern) } : { rule }));
  }

  static fromFile(path: string): LanguageRouter {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new Error(`RUNTIME_MAPPINGS_FILE ${path} is not readable JSON: ${(error as Error).message}`);
    }
    const list = (parsed as { mappings?: unknown }).mappings;
    if (!Array.isArray(list)) throw new Error(`RUNTIME_MAPPINGS_FILE ${path}: "mappings" must be an array`);
    const rules = list.map((entry: unknown, i): MappingRule => {
      const { pattern, language, type = 'prefix', dialect } = (entry ?? {}) as Record<string, unknown>;
      if (typeof pattern !== 'string' || pattern === '') throw new Error(`mapping ${i}: "pattern" must be a non-empty string`);
      if (!LANGUAGES.includes(language as Language)) throw new Error(`mapping ${i}: "language" must be one of ${LANGUAGES.join(', ')}`);
      if (type !== 'prefix' && type !== 'regex') throw new Error(`mapping ${i}: "type" must be prefix or regex`);
      if (type === 'regex') new RegExp(pattern); // throws on a bad pattern, at start-up
      if (dialect !== undefined && !(dialect === 'typescript' && language === 'nodejs')) throw new Error(`mapping ${i}: "dialect" may only be "typescript", for nodejs`);
      return { type, pattern, language: language as Language, ...(dialect === 'typescript' ? { dialect } : {}) };
    });
    return new LanguageRouter(rules);
  }

  /** The rules in the order they are checked (GET /api/v1/runtimes lists them). */
  rules(): readonly MappingRule[] {
    return this.#rules.map(({ rule }) => rule);
  }

  /** Validates the header and resolves its language; ServiceError INVALID_REQUEST otherwise. */
  resolve(languageTitle: string | undefined): ResolvedTitle {
    if (languageTitle === undefined || languageTitle === '') {
      throw new ServiceError('INVALID_REQUEST', 'Language-Title header is required (e.g. "nodejs-calculator")', { header: 'Language-Title' });
    }
    if (languageTitle.length > MAX_LANGUAGE_TITLE_LENGTH || !LANGUAGE_TITLE.test(languageTitle)) {
      throw new ServiceError('INVALID_REQUEST', 'Language-Title must look like "<language>-<title>" (letters, digits, "_", "." and "-"; at most 128 characters)', {
        header: 'Language-Title',
      });
    }
    for (const { rule, regex } of this.#rules) {
      const matches = regex ? regex.test(languageTitle) : languageTitle.startsWith(rule.pattern);
      if (!matches) continue;
      const title = regex ? languageTitle.slice(languageTitle.indexOf('-') + 1) : languageTitle.slice(rule.pattern.length);
      if (title === '') break;
      return { language: rule.language, title, languageTitle, ...(rule.dialect ? { dialect: rule.dialect } : {}) };
    }
    throw new ServiceError('INVALID_REQUEST', `Unknown language in Language-Title "${languageTitle}"`, {
      header: 'Language-Title',
      supported: this.#rules.map(({ rule }) => (rule.type === 'prefix' ? `${rule.pattern}*` : rule.pattern)),
    });
  }
}
