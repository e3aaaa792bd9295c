import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolve } from 'node:path';

import { ConfigError, loadConfig } from './config.js';
import { ConfigSchema, type EnvLeaf } from './schema.js';

type Node = Partial<EnvLeaf> & { properties?: Record<string, Node>; default?: unknown };
const leaves = (node: Node): Array<Node & EnvLeaf> => (node.env !== undefined ? [node as Node & EnvLeaf] : Object.values(node.properties ?? {}).flatMap(leaves));

function assertConfigError(env: Record<string, string>, pattern: RegExp): void {
  assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && pattern.test(error.message), `${JSON.stringify(env)} should fail with ${pattern}`);
}

describe('configuration from one schema', () => {
  it('every leaf names its own variable and has a default, is derived, or is optional', () => {
    const all = leaves(ConfigSchema);
    const names = all.map((leaf) => leaf.env);
    assert.equal(new Set(names).size, names.length, 'no variable is read twice');
    const defaults = loadConfig({});
    assert.equal(defaults.port, 8080);
    assert.equal(defaults.dataDir, resolve('./data'));
    assert.equal(defaults.databaseUrl, undefined);
    assert.deepEqual(defaults.runtimeUrls, { nodejs: [], python: [], rust: [] });
  });

  it('is deep-frozen', () => {
    const config = loadConfig({ CORS_ORIGINS: 'https://a.example' });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.nodejs) && Object.isFrozen(config.corsOrigins) && Object.isFrozen(config.runtimeProcesses.memoryMb));
    assert.throws(() => (config.corsOrigins as string[]).push('https://b.example'), TypeError);
  });

  it('parses each kind of variable and names the bad one', () => {
    const config = loadConfig({ PORT: ' 9000 ', TRUST_PROXY: 'yes', AUTH_ANONYMOUS_SCOPES: 'read:functions, execute:functions', RUNTIME_DISCOVERY: 'kubernetes', HOST: '' });
    assert.equal(config.port, 9000);
    assert.equal(config.trustProxy, true);
    assert.deepEqual(config.auth.anonymousScopes, ['read:functions', 'execute:functions']);
    assert.equal(config.runtimeDiscovery, 'kubernetes');
    assert.equal(config.host, '127.0.0.1', 'an empty variable is unset');
    assertConfigError({ PORT: '80a' }, /^PORT must be an integer, got "80a"$/);
    assertConfigError({ PORT: '70000' }, /^PORT must be between 0 and 65535, got 70000$/);
    assertConfigError({ RUNTIME_CGROUPS: 'maybe' }, /^RUNTIME_CGROUPS must be true or false/);
    assertConfigError({ RUNTIME_DISCOVERY: 'consul' }, /^RUNTIME_DISCOVERY must be one of static, kubernetes/);
    assertConfigError({ NODEJS_RUNTIME_URL: 'a:1,b' }, /^NODEJS_RUNTIME_URL: "b" is not host:port/);
    assertConfigError({ NODEJS_POOL_SIZE: '4', NODEJS_MAX_POOL_SIZE: '2' }, /NODEJS_MAX_POOL_SIZE must be at least NODEJS_POOL_SIZE/);
  });

  it('derives the defaults that follow from other settings, unless set', () => {
    const config = loadConfig({ MAX_SCRIPT_SIZE: '2048', DATA_DIR: '/srv/lm', PYTHON_MAX_WORKERS: '4', RUNTIME_TIMEOUT_SECONDS: '5' });
    assert.equal(config.maxBodyBytes, 2048 * 2 + 65_536);
    assert.equal(config.rust.toolchainDir, '/srv/lm/wasm-toolchain');
    assert.equal(config.runtimeProcesses.memoryMb.python, 4 * 256 + 512);
    assert.equal(config.defaultTimeoutMs, 5000, 'capped by RUNTIME_TIMEOUT_SECONDS');
    assert.equal(config.rateLimits.enabled, false, 'off while callers cannot be told apart');
    assert.equal(loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(32) }).rateLimits.enabled, true);
    assert.equal(loadConfig({ MAX_BODY_BYTES: '4096', RUST_TOOLCHAIN_DIR: '/t' }).maxBodyBytes, 4096);
  });
});
