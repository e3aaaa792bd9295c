/**
 * A runtime reached over gRPC for the shared contract: a real in-process runtime served by
 * createRuntimeServer on a free loopback port, and a RemoteRuntime pointed at it. Stopping the
 * remote also stops the server and the served runtime.
 */
import { createSilentLogger } from '../../src/observability/logger.js';
import { createRuntimeServer } from '../../src/rpc/runtime-server.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { MAX_MESSAGE_BYTES, remoteRuntime } from '../helpers/defaults.js';

/** For runRuntimeContract: builds, starts and serves `createLocal()`, and returns its RemoteRuntime. */
export function servedRemote(createLocal: () => Runtime): () => Promise<Runtime> {
  return async () => {
    const logger = createSilentLogger();
    const local = createLocal();
    await local.start();
    const server = createRuntimeServer(local, { logger, maxMessageBytes: MAX_MESSAGE_BYTES });
    const port = await server.start('127.0.0.1', 0);
    const remote = remoteRuntime(local.language, `127.0.0.1:${port}`, logger);
    const stop = remote.stop.bind(remote);
    return Object.assign(remote, {
      stop: async () => {
        await stop();
        await server.stop(2000);
        await local.stop();
      },
    });
  };
}
