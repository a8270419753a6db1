import type { Job } from 'bullmq';
import type { JobPayload } from '@herald/queue';
import type { WorkerContext } from '../worker-context';

/**
 * `broadcast.dispatch`, first stage: claims the broadcast's pending triggers by marking them
 * `dispatched`. Resolving audiences, creating the run and writing deliveries come with the
 * dispatch capability (issue #4); until then a fired timer still settles every trigger it
 * covers, so none stays pending forever.
 *
 * Idempotent: a retry finds nothing pending and does nothing.
 */
export async function broadcastDispatchProcessor(
  job: Job<JobPayload<'broadcast.dispatch'>>,
  { db, logger }: WorkerContext,
): Promise<void> {
  const { broadcastId } = job.data;
  const claimed = await db
    .updateTable('triggers')
    .set({ status: 'dispatched', status_changed_at: new Date() })
    .where('broadcast_id', '=', broadcastId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  logger.info('dispatch claimed pending triggers', {
    jobId: job.id,
    broadcastId,
    triggers: Number(claimed.numUpdatedRows),
  });
}
