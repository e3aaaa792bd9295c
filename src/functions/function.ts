import type { Language } from '../runtimes/runtime.js';

export type FunctionType = 'predefined' | 'dynamic';

/** JSON Schemas of a function's params and result. */
export interface FunctionSchema {
  readonly params?: Readonly<Record<string, unknown>>;
  readonly result?: Readonly<Record<string, unknown>>;
}

export interface FunctionRecord {
  readonly id: string;
  readonly language: Language;
  readonly title: string;
  readonly languageTitle: string;
  readonly description: string | null;
  readonly schema: FunctionSchema | null;
  readonly examples: readonly unknown[];
  readonly type: FunctionType;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly version: string;
  readonly tags: readonly string[];
  readonly scriptContent: string | null;
  /** false: results are never cached (the function is not deterministic). */
  readonly cacheable: boolean;
  /** A Node.js function's npm packages (name → version or range); null: none. */
  readonly dependencies: Readonly<Record<string, string>> | null;
}

export interface FunctionFilter {
  readonly language?: string;
  readonly userId?: string;
  readonly type?: FunctionType;
}

export interface NewFunction {
  readonly language: Language;
  readonly title: string;
  readonly languageTitle: string;
  readonly description: string | null;
  readonly schema: FunctionSchema | null;
  readonly examples: readonly unknown[];
  readonly createdBy: string | null;
  readonly tags: readonly string[];
  readonly scriptContent: string;
  readonly cacheable: boolean;
  readonly dependencies?: Readonly<Record<string, string>> | null;
}

/** What a session started on one version of a function keeps using after later versions. */
export interface FunctionBehaviour {
  readonly schema: FunctionSchema | null;
  readonly cacheable: boolean;
}

/** A dynamic function's next version, whole: what PATCH changed merged into the current one. */
export interface FunctionVersion {
  readonly version: string;
  readonly description: string | null;
  readonly schema: FunctionSchema | null;
  readonly examples: readonly unknown[];
  readonly tags: readonly string[];
  readonly scriptContent: string;
  readonly cacheable: boolean;
  readonly dependencies: Readonly<Record<string, string>> | null;
  /** Who made this version (null: a caller without a token). */
  readonly createdBy: string | null;
}

export interface FunctionStore {
  list(filter: FunctionFilter, offset: number, limit: number): Promise<{ total: number; functions: FunctionRecord[] }>;
  /** Active function with its current script; undefined if none. */
  get(languageTitle: string): Promise<FunctionRecord | undefined>;
  getById(id: string): Promise<FunctionRecord | undefined>;
  /** Inserts; returns undefined when the language_title is taken. */
  create(fn: NewFunction): Promise<FunctionRecord | undefined>;
  /**
   * What sessions started on `version` keep (its params schema and cache flag), inactive functions
   * included; the function's current ones when that version is not recorded (undefined: sessions
   * from before versions were kept). Undefined when there is no such function.
   */
  behaviour(id: string, version: string | undefined): Promise<FunctionBehaviour | undefined>;
  /**
   * Makes `next` the active dynamic function's current version, with a script row of its own.
   * Undefined when it is no longer active, or no longer at version `from` (changed meanwhile).
   */
  update(id: string, from: string, next: FunctionVersion): Promise<FunctionRecord | undefined>;
  /** is_active = false (the title stays taken); false when it was not an active dynamic function. */
  deactivate(id: string): Promise<boolean>;
}
