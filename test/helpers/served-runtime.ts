/**
 * A real Node.js runtime served over gRPC on a loopback port (src/rpc/runtime-server.ts), noting
 * every Execute that reaches it: the server's own view of where a pool or a controller sent calls.
 */
import { createSilentLogger } from '../../src/observability/logger.js';
import type { RuntimeTlsConfig } from '../../src/config/config.js';
import { createRuntimeServer, type RuntimeServer } from '../../src/rpc/runtime-server.js';
import { NodejsRuntime } from '../../src/runtimes/nodejs/nodejs-runtime.js';
import type { ExecuteRequest, InvocationResult, Runtime } from '../../src/runtimes/runtime.js';
import { MAX_MESSAGE_BYTES, NODEJS_DEFAULTS } from './defaults.js';

export interface NotedExecute {
  readonly request: ExecuteRequest;
  /** Set when the call ended (`not_prepared`: the caller was asked to send the script). */
  status?: InvocationResult['status'];
}

export interface ServedRuntime {
  readonly address: string;
  readonly port: number;
  /** Every Execute received, noted when it arrived. */
  readonly executes: NotedExecute[];
  readonly server: RuntimeServer;
  readonly local: Runtime;
  /** Stops the gRPC server (in-flight calls get `graceMs`), once; the runtime goes on until close(). */
  stopServer(graceMs?: number): Promise<void>;
  /** Stops the server (if still up) and the runtime. */
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Serve mutual TLS (clients need a certificate signed by `tls.ca`); plaintext without. */
  readonly tls?: RuntimeTlsConfig;
}

export async function serveNodejs(port = 0, options: ServeOptions = {}): Promise<ServedRuntime> {
  const logger = createSilentLogger();
  const local = new NodejsRuntime({ ...NODEJS_DEFAULTS, logger, poolSize: 1, maxPoolSize: 4, memoryLimitMb: 64 });
  await local.start();
  const executes: NotedExecute[] = [];
  const noting: Runtime = {
    language: local.language,
    start: () => local.start(),
    stop: () => local.stop(),
    health: () => local.health(),
    prepare: (request) => local.prepare(request),
    release: (key) => local.release(key),
    execute: async (request) => {
      const noted: NotedExecute = { request };
      executes.push(noted);
      const result = await local.execute(request);
      noted.status = result.status;
      return result;
    },
  };
  const server = createRuntimeServer(noting, { logger, tls: options.tls, maxMessageBytes: MAX_MESSAGE_BYTES });
  const bound = await server.start('127.0.0.1', port);
  let serverStopped: Promise<void> | undefined;
  const stopServer = (graceMs = 0): Promise<void> => (serverStopped ??= server.stop(graceMs));
  return {
    address: `127.0.0.1:${bound}`,
    port: bound,
    executes,
    server,
    local,
    stopServer,
    async close() {
      await stopServer(1000);
      await local.stop();
    },
  };
}
