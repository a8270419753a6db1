import type { Job } from 'bullmq';
import type { JobPayload } from '@herald/queue';
import { purgeExpired } from '../retention/purge-expired';
import type { WorkerContext } from '../worker-context';

/**
 * `maintenance.retention`, every RETENTION_INTERVAL_MS while RETENTION_DAYS is set: deletes
 * finished runs older than the horizon with their deliveries and triggers, in small batches
 * (purge-expired.ts). One pass at a time across every worker; a job that finds one running
 * ends at once. A failure (a statement timeout, Postgres away) fails the job: the next pass
 * starts over from what is left, so nothing is retried here.
 */
export async function maintenanceRetentionProcessor(_job: Job<JobPayload<'maintenance.retention'>>, { db, logger, retention }: WorkerContext): Promise<void> {
  const { metrics, stopping, ...settings } = retention;
  const result = await purgeExpired(db, settings, {
    signal: stopping,
    onBatch: (deleted) => {
      for (const [table, n] of Object.entries(deleted)) if (n) metrics.deleted.inc({ table }, n);
    },
  });
  switch (result.outcome) {
    case 'off':
      // A job of a scheduler kept by a worker with RETENTION_DAYS set, or left from when this
      // one had it: this worker's setting decides. Set the same on every worker.
      return;
    case 'busy':
      logger.info('retention pass skipped: another one is running');
      return;
    case 'purged':
    case 'stopped':
      metrics.passSeconds.observe({ outcome: result.outcome }, result.ms / 1000);
      logger.info(result.outcome === 'purged' ? 'retention pass' : 'retention pass stopped by the shutdown; the next one carries on', {
        days: settings.days,
        horizon: result.horizon.toISOString(),
        deleted: result.deleted,
        batches: result.batches,
        durationMs: result.ms,
      });
      return;
  }
}
