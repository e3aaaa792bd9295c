/**
 * The service's configuration, parsed once from the environment by walking the one schema
 * (schema.ts: variables, types, defaults, bounds), checked, and deep-frozen. Nothing else in the
 * code base reads `process.env` or holds a default.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';

import { ConfigSchema, type ConfigValues, type EnvLeaf } from './schema.js';

type DeepReadonly<T> = T extends Buffer ? T : T extends readonly (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export type Config = DeepReadonly<Omit<ConfigValues, 'runtimeTlsFiles'>> & {
  /** Mutual TLS between the controller and runtime servers (the RUNTIME_TLS_* files, read at start); undefined: plaintext gRPC. */
  readonly runtimeTls: RuntimeTlsConfig | undefined;
  readonly version: string;
};

export type RuntimeLanguage = keyof Config['runtimeUrls'];
export type RuntimeSelectionStrategy = Config['runtimeSelectionStrategy'];

/**
 * Mutual TLS between the controller and runtime servers, one shape for both sides: PEM contents of
 * the files named by RUNTIME_TLS_CA, RUNTIME_TLS_CERT and RUNTIME_TLS_KEY.
 */
export interface RuntimeTlsConfig {
  /** The CA that signs every runtime server's and controller's certificate (both sides check the peer against it). */
  readonly ca: Buffer;
  /** This side's certificate chain. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /**
   * Client side: the name a runtime server's certificate is checked against
   * (`grpc.ssl_target_name_override`); unset, the host dialled, so a server dialled by IP needs
   * that IP in its subjectAltName.
   */
  readonly serverName?: string | undefined;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;
type Schema = TSchema & Partial<EnvLeaf> & { properties?: Record<string, Schema>; anyOf?: Array<{ const?: string }> };

/** One variable, as its leaf says it is read; unset: undefined. */
function readLeaf(leaf: Schema & EnvLeaf, raw: string): unknown {
  const name = leaf.env;
  switch (leaf.parse) {
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
      const value = Number(raw);
      if (value < (leaf.minimum as number) || value > (leaf.maximum as number)) throw new ConfigError(`${name} must be between ${leaf.minimum} and ${leaf.maximum}, got ${value}`);
      return value;
    }
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${name} must be true or false, got "${raw}"`);
    case 'oneOf': {
      const allowed = (leaf.anyOf ?? []).map((option) => option.const);
      if (!allowed.includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
      return raw;
    }
    case 'path':
      return resolve(raw);
    case 'url':
      if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
      return raw;
    case 'list':
      return raw.split(/[\s,]+/).filter(Boolean);
    case 'endpoints': {
      const addresses = raw.split(',').map((a) => a.trim().replace(/^grpc:\/\//, '')).filter(Boolean);
      const bad = addresses.find((address) => !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address));
      if (bad !== undefined) throw new ConfigError(`${name}: "${bad}" is not host:port`);
      return [...new Set(addresses)];
    }
    case 'text':
      return raw;
  }
}

/** Every leaf of `schema` read from `env`: the variable, else the default (derived ones stay undefined). */
function readSchema(schema: Schema, env: Env): unknown {
  if (schema.env === undefined) {
    return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, child]) => [key, readSchema(child, env)]));
  }
  const raw = env[schema.env]?.trim();
  if (raw) return readLeaf(schema as Schema & EnvLeaf, raw);
  const fallback: unknown = structuredClone(schema.default);
  return schema.parse === 'path' && typeof fallback === 'string' ? resolve(fallback) : fallback;
}

/** Defaults that follow from other settings (the schema's `derived` leaves). */
function derive(values: ConfigValues): void {
  const { nodejs, nodejsBundles, python, rust, runtimeProcesses, auth } = values;
  // The body carries the script JSON-escaped plus a context: leave room for both.
  values.maxBodyBytes ??= values.maxScriptSize * 2 + 65_536;
  values.defaultTimeoutMs = Math.min(values.runtimeTimeoutSeconds * 1000, values.defaultTimeoutMs);
  rust.toolchainDir ??= join(values.dataDir, 'wasm-toolchain');
  nodejsBundles.packagesDir ??= join(values.dataDir, 'nodejs-packages');
  // What the runtime's own limits allow at most, plus room for the process itself.
  runtimeProcesses.memoryMb.nodejs ??= nodejs.maxPoolSize * nodejs.memoryLimitMb + 512;
  runtimeProcesses.memoryMb.python ??= python.maxWorkers * python.memoryLimitMb + 512;
  runtimeProcesses.memoryMb.rust ??= rust.maxConcurrentCompiles * 1024 + rust.poolSize * rust.memoryLimitMb + 768;
  // On by default once callers are told apart (auth on); a loopback-only dev default is unlimited.
  values.rateLimits.enabled ??= Boolean(auth.jwtSecret ?? auth.jwksUrl ?? auth.jwksFile);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Freezes every object below `value` (Buffers aside: a typed array with elements cannot be frozen). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

const RUNTIME_TLS_FILES = { ca: 'RUNTIME_TLS_CA', cert: 'RUNTIME_TLS_CERT', key: 'RUNTIME_TLS_KEY' } as const;

/** RUNTIME_TLS_*: all three files or none (plaintext); each read now, so a bad path fails the start naming it. */
function runtimeTls({ serverName, ...files }: ConfigValues['runtimeTlsFiles']): RuntimeTlsConfig | undefined {
  const parts = Object.keys(RUNTIME_TLS_FILES) as Array<keyof typeof RUNTIME_TLS_FILES>;
  const set = parts.filter((part) => files[part] !== undefined).map((part) => RUNTIME_TLS_FILES[part]);
  const names = Object.values(RUNTIME_TLS_FILES);
  if (set.length === 0) {
    if (serverName !== undefined) throw new ConfigError(`RUNTIME_TLS_SERVER_NAME is set but runtime TLS is not: set ${names.join(', ')} too`);
    return undefined;
  }
  const missing = names.filter((name) => !set.includes(name));
  if (missing.length > 0) throw new ConfigError(`runtime TLS is partly configured: ${set.join(' and ')} set, ${missing.join(' and ')} missing (set all three for mutual TLS, none for plaintext)`);
  if (serverName !== undefined && !/^[A-Za-z0-9.-]+$/.test(serverName)) throw new ConfigError(`RUNTIME_TLS_SERVER_NAME must be a host name, got "${serverName}"`);
  const read = (part: keyof typeof RUNTIME_TLS_FILES): Buffer => {
    const path = resolve(files[part] ?? '');
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (error) {
      throw new ConfigError(`${RUNTIME_TLS_FILES[part]}: cannot read ${path}: ${(error as Error).message}`);
    }
    if (!pem.includes('-----BEGIN ')) throw new ConfigError(`${RUNTIME_TLS_FILES[part]}: ${path} is not a PEM file`);
    return pem;
  };
  return { ca: read('ca'), cert: read('cert'), key: read('key'), serverName };
}

/** A module name PYTHON_PRELOAD accepts: dotted ASCII identifiers. */
const PYTHON_MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Parses the environment once; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env, version = '0.0.0'): Config {
  const values = readSchema(ConfigSchema as Schema, env) as ConfigValues;
  derive(values);
  const invalid = Value.Errors(ConfigSchema, values).First();
  if (invalid) throw new ConfigError(`configuration ${invalid.path}: ${invalid.message}`);
  const { runtimeTlsFiles, ...settings } = values;
  const config: Config = { ...settings, runtimeTls: runtimeTls(runtimeTlsFiles), version };
  const authConfigured = Boolean(config.auth.jwtSecret ?? config.auth.jwksUrl ?? config.auth.jwksFile);
  if ([config.auth.jwtSecret, config.auth.jwksUrl, config.auth.jwksFile].filter(Boolean).length > 1) {
    throw new ConfigError('set only one of AUTH_JWT_SECRET, AUTH_JWKS_URL and AUTH_JWKS_FILE');
  }
  if (!authConfigured && !isLoopback(config.host) && !config.auth.allowUnauthenticatedNetwork) {
    throw new ConfigError(
      `HOST=${config.host} is not a loopback address and no authentication is configured: set AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE, or opt out explicitly with ALLOW_UNAUTHENTICATED_NETWORK=true`,
    );
  }
  if (config.runtimeDiscovery === 'kubernetes') {
    const staticLanguages = (Object.keys(config.runtimeUrls) as RuntimeLanguage[]).filter((l) => config.runtimeUrls[l].length > 0);
    if (staticLanguages.length > 0) {
      throw new ConfigError(`RUNTIME_DISCOVERY=kubernetes discovers every language's endpoints: unset ${staticLanguages.map((l) => `${l.toUpperCase()}_RUNTIME_URL`).join(', ')}`);
    }
  }
  if (config.nodejs.maxPoolSize < config.nodejs.poolSize) {
    throw new ConfigError('NODEJS_MAX_POOL_SIZE must be at least NODEJS_POOL_SIZE');
  }
  if (config.python.maxWorkers < config.python.poolSize) {
    throw new ConfigError('PYTHON_MAX_WORKERS must be at least PYTHON_POOL_SIZE');
  }
  const badModule = config.python.preload.find((name) => !PYTHON_MODULE_NAME.test(name));
  if (badModule !== undefined) throw new ConfigError(`PYTHON_PRELOAD: "${badModule}" is not a module name (dotted Python identifiers, e.g. numpy or dateutil.parser)`);
  return deepFreeze(config);
}
