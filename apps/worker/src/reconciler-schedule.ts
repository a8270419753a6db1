import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';

/**
 * Makes sure the reconciler's job scheduler exists, now and every `intervalMs` after: a Redis
 * that lost its keys (FLUSHALL, a restart without persistence) loses the scheduler too, and
 * the scheduler is what would notice the loss. BullMQ runs each scheduled job once, however
 * many workers keep it alive.
 */
export function keepReconcilerScheduled(producer: JobProducer, intervalMs: number, logger: Logger): { stop(): void } {
  return keepScheduled(producer, 'maintenance.reconcile', 'reconciler', intervalMs, logger);
}

/** The same for the retention pass (RETENTION_DAYS set): a lost scheduler comes back. */
export function keepRetentionScheduled(producer: JobProducer, intervalMs: number, logger: Logger): { stop(): void } {
  return keepScheduled(producer, 'maintenance.retention', 'retention pass', intervalMs, logger);
}

function keepScheduled(
  producer: JobProducer,
  name: 'maintenance.reconcile' | 'maintenance.retention',
  what: string,
  intervalMs: number,
  logger: Logger,
): { stop(): void } {
  const ensure = () =>
    producer.ensureScheduler(name, {}, intervalMs).then(
      (created) => created && logger.info(`${what} scheduled`, { intervalMs }),
      (error: unknown) => logger.warn(`could not schedule the ${what}; retrying`, { error }),
    );
  void ensure();
  const timer = setInterval(() => void ensure(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
