/**
 * Entry point of a local runtime process: one language's runtime (V8 isolates, Python workers,
 * WebAssembly and the Rust compiler) in its own sandboxed process, started and supervised by the
 * service (src/rpc/process-runtime.ts), serving it over frames on fd 3 (src/rpc/frame-server.ts).
 * Its log goes to stderr, which the service reads.
 *
 *   node --no-node-snapshot dist/src/main/runtime-process-main.js '<settings JSON>'
 *
 * The settings are the service's runtime settings for this language (no secret is ever passed: the
 * process has no network and no business with the database, which the Rust module store reaches
 * through the service). It ends when the service says stop, or when its channel closes (the
 * service is gone); bubblewrap also kills it with the service.
 */
import { Socket } from 'node:net';

import { createLogger } from '../observability/logger.js';
import { FramePeer } from '../rpc/frame-peer.js';
import { FrameModuleStore, serveRuntimeOverFrames } from '../rpc/frame-server.js';
import { healthToWire } from '../rpc/runtime-wire.js';
import { FD_CHANNEL } from '../sandbox/runtime-sandbox.js';
import { createLocalRuntime, type RuntimeProcessSettings } from './local-runtimes.js';

const STOP_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as RuntimeProcessSettings;
  const logger = createLogger(settings.logLevel, process.stderr).child({ language: settings.language, pid: process.pid });
  let stopping: Promise<void> | undefined;
  const stop = (code: number): void => {
    stopping ??= (async () => {
      const force = setTimeout(() => process.exit(code), STOP_TIMEOUT_MS);
      force.unref();
      await runtime.stop().catch((error: unknown) => logger.error({ err: error }, 'runtime stop failed'));
      process.exit(code);
    })();
  };
  const peer = new FramePeer(new Socket({ fd: FD_CHANNEL, readable: true, writable: true }), {
    maxFrameBytes: settings.maxFrameBytes,
    acceptCodes: new Set(['INTERNAL_ERROR', 'INVALID_REQUEST', 'RUNTIME_UNAVAILABLE']),
    onViolation: (what) => logger.error({ what }, 'the service broke the frame protocol'),
    // The service is gone: nothing will ever call again.
    onClose: () => stop(0),
  });
  const runtime = createLocalRuntime(settings.language, settings.runtime, logger, () => new FrameModuleStore(peer));
  try {
    await runtime.start();
  } catch (error) {
    peer.notify('failed', { reason: error instanceof Error ? error.message : String(error) });
    logger.error({ err: error }, 'runtime failed to start');
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  serveRuntimeOverFrames(runtime, peer, { onStop: () => setImmediate(() => process.exit(0)) });
  peer.notify('ready', { ...healthToWire(runtime.health()), rss_bytes: process.memoryUsage().rss });
  logger.info('runtime process ready');
}

main().catch((error: unknown) => {
  process.stderr.write(`runtime process failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
