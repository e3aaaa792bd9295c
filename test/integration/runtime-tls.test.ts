/**
 * Mutual TLS between the controller (RemoteRuntime) and runtime servers (RUNTIME_TLS_CA/CERT/KEY):
 * real gRPC on loopback, a real Node.js runtime, certificates made here with the openssl command
 * line. A client without a certificate signed by the CA never reaches the runtime; the client
 * checks the server's certificate against the CA and against the address dialled (or
 * RUNTIME_TLS_SERVER_NAME).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as grpc from '@grpc/grpc-js';

import { loadConfig, type RuntimeTlsConfig } from '../../src/config/config.js';
import { isServiceError } from '../../src/errors/service-error.js';
import { createRuntimes } from '../../src/main/runtimes.js';
import { createSilentLogger } from '../../src/observability/logger.js';
import type { RemoteRuntime } from '../../src/rpc/remote-runtime.js';
import { loadProtos } from '../../src/rpc/runtime-proto.js';
import { MemoryModuleStore } from '../../src/runtimes/kit/module-store.js';
import { scriptHashOf } from '../runtime-contract/contract.js';
import { startRuntimeProcess, type RuntimeProcess } from '../helpers/process.js';
import { freePort } from '../helpers/scratch-services.js';
import { serveNodejs, type ServedRuntime } from '../helpers/served-runtime.js';
import { waitFor } from '../helpers/wait.js';
import { DEFAULTS, remoteRuntime } from '../helpers/defaults.js';

const logger = createSilentLogger();

interface Pem {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Paths of the files, for RUNTIME_TLS_CERT / RUNTIME_TLS_KEY. */
  readonly certPath: string;
  readonly keyPath: string;
}

/** A CA and certificates it signs, made with the openssl command line in `dir`. */
class TestPki {
  constructor(
    readonly dir: string,
    readonly name: string,
  ) {
    this.#openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }

  get caPath(): string {
    return join(this.dir, `${this.name}.crt`);
  }

  get ca(): Buffer {
    return readFileSync(this.caPath);
  }

  /** A leaf certificate signed by this CA; `extensions` as in an openssl extfile (subjectAltName, extendedKeyUsage). */
  issue(name: string, extensions: string): Pem {
    writeFileSync(join(this.dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}\n`);
    this.#openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    this.#openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${this.name}.crt`, '-CAkey', `${this.name}.key`, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2',
      '-out', `${name}.crt`, '-extfile', `${name}.ext`);
    const certPath = join(this.dir, `${name}.crt`);
    const keyPath = join(this.dir, `${name}.key`);
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, keyPath };
  }

  #openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

const SERVICE_NAME = 'lambda-runtime-nodejs.test';

describe('mutual TLS between the controller and runtime servers', () => {
  let dir: string;
  let ca: TestPki;
  let otherCa: TestPki;
  let serverPem: Pem;
  let clientPem: Pem;
  let otherClientPem: Pem;
  /** A server certificate naming only the Service, not the address it is dialled at. */
  let serviceNamePem: Pem;
  let served: ServedRuntime;
  const remotes: RemoteRuntime[] = [];
  const extra: Array<{ close(): Promise<unknown> }> = [];

  const source = 'return event.params.a * event.params.b;';
  const scriptHash = scriptHashOf('nodejs', source);
  let nextKey = 0;
  const executeOn = (remote: RemoteRuntime, a: number, b: number) =>
    remote.execute({ scriptHash, instanceKey: `tls-${nextKey++}`, event: { params: { a, b }, context: {}, request_id: `r${nextKey}` }, timeoutMs: 5000 });

  function clientTls(pem: Pem, caPem: Buffer = ca.ca, serverName?: string): RuntimeTlsConfig {
    return { ca: caPem, cert: pem.cert, key: pem.key, ...(serverName ? { serverName } : {}) };
  }

  async function remoteTo(address: string, tls: RuntimeTlsConfig | undefined, startTimeoutMs = 5000): Promise<RemoteRuntime> {
    const remote = remoteRuntime('nodejs', address, logger, { healthIntervalMs: 200, startTimeoutMs }, tls ? { tls } : {});
    remotes.push(remote);
    await remote.start();
    return remote;
  }

  /** A client the server must refuse: health stays unavailable, and a call fails without reaching the runtime. */
  async function assertRefused(target: ServedRuntime, tls: RuntimeTlsConfig | undefined, what: string): Promise<void> {
    const before = target.executes.length;
    const remote = await remoteTo(target.address, tls, 1000);
    assert.equal(remote.health().status, 'unavailable', `${what}: health`);
    await assert.rejects(remote.prepare({ scriptHash, source }), (error: unknown) => isServiceError(error), `${what}: prepare`);
    await assert.rejects(executeOn(remote, 2, 3), (error: unknown) => isServiceError(error) && error.code === 'RUNTIME_UNAVAILABLE', `${what}: execute`);
    assert.equal(remote.health().status, 'unavailable', `${what}: health after the calls`);
    assert.equal(target.executes.length, before, `${what}: no execute reached the runtime`);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lm-runtime-tls-'));
    ca = new TestPki(dir, 'ca');
    otherCa = new TestPki(dir, 'other-ca');
    serverPem = ca.issue('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
    clientPem = ca.issue('client', 'subjectAltName=DNS:controller\nextendedKeyUsage=clientAuth');
    otherClientPem = otherCa.issue('other-client', 'subjectAltName=DNS:controller\nextendedKeyUsage=clientAuth');
    serviceNamePem = ca.issue('service-name', `subjectAltName=DNS:${SERVICE_NAME}\nextendedKeyUsage=serverAuth`);
    served = await serveNodejs(0, { tls: { ca: ca.ca, cert: serverPem.cert, key: serverPem.key } });
  });

  after(async () => {
    await Promise.all(remotes.map((remote) => remote.stop()));
    await Promise.all(extra.map((e) => e.close()));
    await served?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a client with a certificate signed by the CA runs a real execute', async () => {
    const remote = await remoteTo(served.address, clientTls(clientPem));
    await waitFor('the TLS runtime to be up', () => remote.health().status === 'up');
    assert.equal((await remote.prepare({ scriptHash, source })).ok, true);
    const before = served.executes.length;
    const result = await executeOn(remote, 6, 7);
    assert.equal(result.status, 'ok', JSON.stringify(result));
    assert.equal(result.status === 'ok' ? result.result : undefined, 42);
    assert.equal(served.executes.length, before + 1, 'the execute reached the runtime');
    assert.equal(served.executes.at(-1)?.status, 'ok');
  });

  it('refuses a plaintext client', async () => {
    await assertRefused(served, undefined, 'plaintext');
  });

  it('refuses a TLS client that presents no certificate', async () => {
    const before = served.executes.length;
    const { RuntimeClient } = loadProtos();
    const client = new RuntimeClient(served.address, grpc.credentials.createSsl(ca.ca), {});
    try {
      const health = await new Promise<grpc.ServiceError | null>((resolve) => client.HealthCheck({}, { deadline: Date.now() + 3000 }, (error) => resolve(error)));
      assert.ok(health, 'HealthCheck without a client certificate must fail');
      assert.notEqual(health.code, grpc.status.OK);
      const execute = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.Execute({ script_hash: scriptHash, instance_key: 'no-cert', event_json: JSON.stringify({ params: { a: 1, b: 1 }, context: {}, request_id: 'x' }), timeout_ms: 1000 }, { deadline: Date.now() + 3000 }, (error) => resolve(error)),
      );
      assert.ok(execute, 'Execute without a client certificate must fail');
      assert.equal(served.executes.length, before, 'no execute reached the runtime');
    } finally {
      client.close();
    }
  });

  it('refuses a client whose certificate another CA signed', async () => {
    await assertRefused(served, clientTls(otherClientPem), 'certificate of another CA');
  });

  it('the client refuses a server its CA did not sign', async () => {
    // Client certificate fine for the server, but the client trusts only the other CA.
    await assertRefused(served, clientTls(clientPem, otherCa.ca), 'server of another CA');
  });

  it('checks the server certificate against the address dialled, or RUNTIME_TLS_SERVER_NAME', async () => {
    const named = await serveNodejs(0, { tls: { ca: ca.ca, cert: serviceNamePem.cert, key: serviceNamePem.key } });
    extra.push(named);
    // Dialled at 127.0.0.1, a certificate for the Service's name only does not match.
    await assertRefused(named, clientTls(clientPem), 'certificate without the IP');
    const remote = await remoteTo(named.address, clientTls(clientPem, ca.ca, SERVICE_NAME));
    await waitFor('the runtime to be up under its Service name', () => remote.health().status === 'up');
    assert.equal((await remote.prepare({ scriptHash, source })).ok, true);
    const result = await executeOn(remote, 3, 5);
    assert.equal(result.status === 'ok' ? result.result : result.status, 15);
    // And the override is checked too: a name the certificate does not carry is refused.
    await assertRefused(served, clientTls(clientPem, ca.ca, SERVICE_NAME), 'server name the certificate lacks');
  });

  it('the entry points read RUNTIME_TLS_* : runtime-server-main serves mTLS, the controller wiring dials it with TLS', async () => {
    const env = { RUNTIME_TLS_CA: ca.caPath, RUNTIME_TLS_CERT: serverPem.certPath, RUNTIME_TLS_KEY: serverPem.keyPath };
    const runtime: RuntimeProcess = await startRuntimeProcess('nodejs', await freePort(), env);
    extra.push({ close: () => runtime.stop('SIGTERM') });

    const wiringFor = async (tlsEnv: Record<string, string>) => {
      const urls = { NODEJS_RUNTIME_URL: runtime.address, PYTHON_RUNTIME_URL: runtime.address, RUST_RUNTIME_URL: runtime.address };
      const wiring = await createRuntimes(loadConfig({ ...urls, ...tlsEnv }, 'test'), logger, () => new MemoryModuleStore(DEFAULTS.rust.maxModuleBytes));
      const pool = wiring.pools.find((p) => p.language === 'nodejs');
      assert.ok(pool);
      extra.push({ close: () => pool.stop() });
      return pool;
    };

    const tlsPool = await wiringFor({ RUNTIME_TLS_CA: ca.caPath, RUNTIME_TLS_CERT: clientPem.certPath, RUNTIME_TLS_KEY: clientPem.keyPath });
    await tlsPool.start();
    await waitFor('the runtime server process to be up over mTLS', () => tlsPool.status() === 'up');
    assert.equal((await tlsPool.prepare({ scriptHash, source })).ok, true);
    const result = await tlsPool.execute({ scriptHash, instanceKey: 'main', event: { params: { a: 4, b: 4 }, context: {}, request_id: 'main' }, timeoutMs: 5000 });
    assert.equal(result.status === 'ok' ? result.result : result.status, 16);

    // The same process refuses the controller without TLS settings.
    const plainPool = await wiringFor({});
    await plainPool.start();
    assert.equal(plainPool.status(), 'unavailable');
    await assert.rejects(
      plainPool.execute({ scriptHash, instanceKey: 'plain', event: { params: { a: 1, b: 1 }, context: {}, request_id: 'plain' }, timeoutMs: 5000 }),
      (error: unknown) => isServiceError(error) && error.code === 'RUNTIME_UNAVAILABLE',
    );
  });

  it('runtime-server-main stops at start on a partial TLS configuration, naming what is missing', async () => {
    await assert.rejects(startRuntimeProcess('nodejs', 0, { RUNTIME_TLS_CA: ca.caPath, RUNTIME_TLS_KEY: clientPem.keyPath }), (error: Error) => {
      assert.match(error.message, /exited with 2/);
      assert.match(error.message, /configuration error: .*RUNTIME_TLS_CERT missing/);
      return true;
    });
  });
});
