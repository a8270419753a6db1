import type { Logger } from '@herald/logger';

/** What a started process hands back: how to stop it cleanly. */
export interface RunningService {
  stop(): Promise<void>;
}

export interface RunServiceOptions {
  logger: Logger;
  /** After this long a stop that has not finished is abandoned and the process exits 1. */
  shutdownTimeoutMs: number;
  start(): Promise<RunningService>;
}

/**
 * The lifecycle every Herald process shares (STYLE §12): start, then on SIGTERM or SIGINT stop
 * taking work, let in-flight work finish or hand it back, close connections, exit 0.
 * A failed start, a failed stop or a stop past the deadline exits 1.
 */
export async function runService({ logger, shutdownTimeoutMs, start }: RunServiceOptions): Promise<void> {
  let running: RunningService;
  try {
    running = await start();
  } catch (error) {
    logger.error('failed to start', { error });
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, timeoutMs: shutdownTimeoutMs });
    const deadline = setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting', { timeoutMs: shutdownTimeoutMs });
      process.exit(1);
    }, shutdownTimeoutMs);
    deadline.unref();
    try {
      await running.stop();
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error('shutdown failed', { error });
      process.exit(1);
    }
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void shutdown(signal));
  }
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled promise rejection', { error: reason });
  });
}
