import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ConfigError, loadConfig } from './config.js';

/** Throws unless `run` throws a ConfigError whose message matches every pattern. */
function assertConfigError(run: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

describe('RUNTIME_TLS_* configuration', () => {
  let dir: string;
  let files: { RUNTIME_TLS_CA: string; RUNTIME_TLS_CERT: string; RUNTIME_TLS_KEY: string };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lm-config-tls-'));
    const write = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    // The configuration reads the files and checks they are PEM; TLS itself parses them later.
    files = {
      RUNTIME_TLS_CA: write('ca.crt', '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n'),
      RUNTIME_TLS_CERT: write('tls.crt', '-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n'),
      RUNTIME_TLS_KEY: write('tls.key', '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n'),
    };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is off (plaintext) when none is set, also with blank values', () => {
    assert.equal(loadConfig({}).runtimeTls, undefined);
    assert.equal(loadConfig({ RUNTIME_TLS_CA: '', RUNTIME_TLS_CERT: ' ', NODEJS_RUNTIME_URL: '127.0.0.1:50051' }).runtimeTls, undefined);
  });

  it('reads the three files when all are set', () => {
    const tls = loadConfig(files).runtimeTls;
    assert.ok(tls);
    assert.match(tls.ca.toString(), /\nca\n/);
    assert.match(tls.cert.toString(), /\ncert\n/);
    assert.match(tls.key.toString(), /\nkey\n/);
    assert.equal(tls.serverName, undefined);
    assert.equal(loadConfig({ ...files, RUNTIME_TLS_SERVER_NAME: 'lambda-runtime-nodejs.default.svc' }).runtimeTls?.serverName, 'lambda-runtime-nodejs.default.svc');
  });

  it('refuses a partial setting, naming what is missing', () => {
    assertConfigError(() => loadConfig({ RUNTIME_TLS_CA: files.RUNTIME_TLS_CA }), /RUNTIME_TLS_CA set/, /RUNTIME_TLS_CERT and RUNTIME_TLS_KEY missing/);
    assertConfigError(() => loadConfig({ RUNTIME_TLS_CERT: files.RUNTIME_TLS_CERT, RUNTIME_TLS_KEY: files.RUNTIME_TLS_KEY }), /RUNTIME_TLS_CA missing/);
    assertConfigError(() => loadConfig({ RUNTIME_TLS_CA: files.RUNTIME_TLS_CA, RUNTIME_TLS_CERT: files.RUNTIME_TLS_CERT }), /RUNTIME_TLS_KEY missing/);
    // A partial setting is refused before any file is read: here none of them exists.
    assertConfigError(() => loadConfig({ RUNTIME_TLS_KEY: join(dir, 'nope.key') }), /RUNTIME_TLS_CA and RUNTIME_TLS_CERT missing/);
  });

  it('refuses RUNTIME_TLS_SERVER_NAME without TLS, and one that is not a host name', () => {
    assertConfigError(() => loadConfig({ RUNTIME_TLS_SERVER_NAME: 'runtime' }), /RUNTIME_TLS_SERVER_NAME/, /RUNTIME_TLS_CA, RUNTIME_TLS_CERT, RUNTIME_TLS_KEY/);
    assertConfigError(() => loadConfig({ ...files, RUNTIME_TLS_SERVER_NAME: 'https://runtime/' }), /RUNTIME_TLS_SERVER_NAME must be a host name/);
  });

  it('names the file that cannot be read, or is not PEM', () => {
    const missing = join(dir, 'missing.crt');
    assertConfigError(() => loadConfig({ ...files, RUNTIME_TLS_CERT: missing }), /^RUNTIME_TLS_CERT: cannot read /, new RegExp(missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), /ENOENT/);
    assertConfigError(() => loadConfig({ ...files, RUNTIME_TLS_CA: dir }), /^RUNTIME_TLS_CA: cannot read /, /EISDIR/);
    const notPem = join(dir, 'key.der');
    writeFileSync(notPem, Buffer.from([0x30, 0x82, 0x01, 0x00]));
    assertConfigError(() => loadConfig({ ...files, RUNTIME_TLS_KEY: notPem }), /^RUNTIME_TLS_KEY: .*key\.der is not a PEM file/);
    if (process.getuid?.() !== 0) {
      // Root reads any file: the permission case only where it can happen.
      const locked = join(dir, 'locked.key');
      writeFileSync(locked, '-----BEGIN PRIVATE KEY-----\n');
      chmodSync(locked, 0o000);
      assertConfigError(() => loadConfig({ ...files, RUNTIME_TLS_KEY: locked }), /^RUNTIME_TLS_KEY: cannot read .*locked\.key/, /EACCES/);
    }
  });
});
