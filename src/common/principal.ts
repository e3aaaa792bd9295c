import { ServiceError } from '../errors/service-error.js';
import { LANGUAGES, type Language } from '../runtimes/runtime.js';

/** Who is calling: a verified token's subject and scopes, or an anonymous caller known by address. */
export interface Principal {
  readonly anonymous: boolean;
  /** `sub` of the token; undefined for anonymous callers. */
  readonly userId: string | undefined;
  readonly scopes: ReadonlySet<string>;
  /** What rate limits count by: the user, or the client address. */
  readonly rateKey: string;
}

export const SCOPES = {
  executeAll: 'execute:all',
  readFunctions: 'read:functions',
  /** Registering dynamic functions (an addition to the earlier contract; see docs/security.md). */
  writeFunctions: 'write:functions',
} as const;

/** Every scope: what callers hold when auth is off (the loopback-only default). */
export const ALL_SCOPES: readonly string[] = [SCOPES.executeAll, SCOPES.readFunctions, SCOPES.writeFunctions];

/** A caller with every scope and no identity: tests and in-process use with auth off. */
export const LOCAL_PRINCIPAL: Principal = { anonymous: true, userId: undefined, scopes: new Set(ALL_SCOPES), rateKey: 'local' };

/** The caller as what they make records as owned by: a token's `sub`; null for a caller without a token. */
export function ownerOf(principal: Principal): string | null {
  return principal.anonymous ? null : (principal.userId ?? null);
}

export function executeScope(language: Language): string {
  return `execute:${language}`;
}

/** 401 for an anonymous caller without the scope, 403 for a user without it. */
export function requireScope(principal: Principal, anyOf: readonly string[]): void {
  if (anyOf.some((s) => principal.scopes.has(s))) return;
  if (principal.anonymous) throw new ServiceError('UNAUTHORIZED', 'This needs a Bearer token', { required_scope: anyOf });
  throw new ServiceError('FORBIDDEN', `This needs the scope ${anyOf.join(' or ')}`, { required_scope: anyOf });
}

export function requireExecuteScope(principal: Principal, language: Language): void {
  requireScope(principal, [SCOPES.executeAll, executeScope(language)]);
}

/**
 * The languages whose sessions the caller may see (execute:<language> or execute:all): undefined
 * for every one. 401/403 when the caller may execute none.
 */
export function executableLanguages(principal: Principal): readonly Language[] | undefined {
  requireScope(principal, [SCOPES.executeAll, ...LANGUAGES.map(executeScope)]);
  if (principal.scopes.has(SCOPES.executeAll)) return undefined;
  return LANGUAGES.filter((language) => principal.scopes.has(executeScope(language)));
}
