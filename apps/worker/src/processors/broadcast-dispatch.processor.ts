import type { Job } from 'bullmq';
import type { JobPayload } from '@herald/queue';
import { dispatchBroadcast } from '../dispatch/dispatch-broadcast';
import type { WorkerContext } from '../worker-context';

/**
 * `broadcast.dispatch`: fired by a broadcast's timer. Turns every pending trigger into one run
 * with one delivery row per targeted contact. Idempotent: a retry resumes the unfinished run or
 * finds nothing to do. Handing deliveries to the channel queues comes with delivery.
 */
export async function broadcastDispatchProcessor(job: Job<JobPayload<'broadcast.dispatch'>>, { db, logger }: WorkerContext): Promise<void> {
  const result = await dispatchBroadcast(db, job.data.broadcastId, logger);
  logger.info('broadcast.dispatch finished', { ...result, broadcastId: job.data.broadcastId });
}
