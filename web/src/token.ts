/**
 * The JWT the console sends: kept in this tab's sessionStorage (gone when the tab closes), sent
 * only as `Authorization: Bearer` by the SDK, never put in a URL. The console reads its claims to
 * show them; it does not verify them (the service does).
 */
const STORAGE_KEY = 'lambda-console.token';

export function loadToken(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(STORAGE_KEY, token);
  else sessionStorage.removeItem(STORAGE_KEY);
}

export interface TokenClaims {
  readonly subject: string | undefined;
  readonly scopes: readonly string[];
  readonly expiresAt: Date | undefined;
  readonly issuer: string | undefined;
}

/** The claims of a JWT's payload, or an Error saying why it is not one. */
export function readClaims(token: string): TokenClaims | Error {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts[1]) return new Error('not a JWT: it should be three base64url parts separated by dots');
  let payload: unknown;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    payload = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return new Error('its payload is not base64url JSON');
  }
  if (typeof payload !== 'object' || payload === null) return new Error('its payload is not a JSON object');
  const claims = payload as Record<string, unknown>;
  const scope = claims.scope ?? claims.scp;
  const scopes = typeof scope === 'string' ? scope.split(/\s+/).filter(Boolean) : Array.isArray(scope) ? scope.map(String) : [];
  return {
    subject: typeof claims.sub === 'string' ? claims.sub : undefined,
    scopes,
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined,
    issuer: typeof claims.iss === 'string' ? claims.iss : undefined,
  };
}
