/**
 * Authentication: `Authorization: Bearer <JWT>` verified with jose — HS256 with a shared secret,
 * or RS256/ES256 keys from a JWKS URL or file — with `exp`/`nbf` always checked and issuer and
 * audience when configured. Scopes come from the `scope` claim (space-separated, as OAuth 2 does)
 * or a `scopes`/`scp` array.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Principal } from '../common/principal.js';
import { ServiceError } from '../errors/service-error.js';

export interface AuthOptions {
  /** HS256 shared secret. */
  readonly jwtSecret?: string;
  readonly jwksUrl?: string;
  readonly jwksFile?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** Seconds of clock difference tolerated on exp/nbf. */
  readonly clockToleranceSeconds: number;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;
const MAX_TOKEN_LENGTH = 8192;

export class Authenticator {
  readonly #key: Uint8Array | JWTVerifyGetKey;
  readonly #algorithms: string[];
  readonly #options: AuthOptions;

  private constructor(key: Uint8Array | JWTVerifyGetKey, algorithms: string[], options: AuthOptions) {
    this.#key = key;
    this.#algorithms = algorithms;
    this.#options = options;
  }

  /** An authenticator for the configured key source, or undefined when auth is off. */
  static create(options: AuthOptions): Authenticator | undefined {
    if (options.jwtSecret) {
      if (options.jwtSecret.length < 32) throw new Error('AUTH_JWT_SECRET must be at least 32 characters');
      return new Authenticator(new TextEncoder().encode(options.jwtSecret), ['HS256'], options);
    }
    if (options.jwksUrl) return new Authenticator(createRemoteJWKSet(new URL(options.jwksUrl)), ['RS256', 'ES256'], options);
    if (options.jwksFile) {
      const jwks = JSON.parse(readFileSync(options.jwksFile, 'utf8')) as Parameters<typeof createLocalJWKSet>[0];
      return new Authenticator(createLocalJWKSet(jwks), ['RS256', 'ES256'], options);
    }
    return undefined;
  }

  /**
   * The caller: verified from the Authorization header, or anonymous when there is none.
   * A header that is present but not a valid token is 401, never anonymous.
   */
  async authenticate(authorization: string | undefined, clientAddress: string): Promise<Principal> {
    if (authorization === undefined || authorization === '') {
      return { anonymous: true, userId: undefined, scopes: new Set(), rateKey: `ip:${clientAddress}` };
    }
    const match = authorization.length <= MAX_TOKEN_LENGTH ? BEARER.exec(authorization) : null;
    if (!match?.[1]) throw new ServiceError('UNAUTHORIZED', 'Authorization must be "Bearer <JWT>"', { header: 'Authorization' });
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(match[1], this.#key as Uint8Array, {
        algorithms: this.#algorithms,
        ...(this.#options.issuer ? { issuer: this.#options.issuer } : {}),
        ...(this.#options.audience ? { audience: this.#options.audience } : {}),
        clockTolerance: this.#options.clockToleranceSeconds,
        requiredClaims: ['sub', 'exp'],
      });
      payload = verified.payload;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'ERR_JWT_INVALID';
      throw new ServiceError('UNAUTHORIZED', `The token is not valid (${describe(code)})`, { reason: code });
    }
    const userId = String(payload.sub);
    return { anonymous: false, userId, scopes: scopesOf(payload), rateKey: `user:${userId}` };
  }
}

function describe(code: string): string {
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'a claim does not match: issuer, audience, nbf or a required claim';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no matching key';
    default:
      return 'malformed or unverifiable';
  }
}

function scopesOf(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  const { scope, scopes: list, scp } = payload as { scope?: unknown; scopes?: unknown; scp?: unknown };
  if (typeof scope === 'string') for (const s of scope.split(' ')) if (s) scopes.add(s);
  for (const source of [list, scp]) if (Array.isArray(source)) for (const s of source) if (typeof s === 'string') scopes.add(s);
  return scopes;
}
