import type { Job } from 'bullmq';
import type { JobPayload } from '@herald/queue';
import { dispatchBroadcast } from '../dispatch/dispatch-broadcast';
import type { WorkerContext } from '../worker-context';

/**
 * `broadcast.dispatch`: fired by a broadcast's timer. Turns every pending trigger into one run
 * with one delivery row per targeted contact, handed to the channel queues in chunks. Idempotent:
 * a retry resumes the unfinished run or finds nothing to do.
 */
export async function broadcastDispatchProcessor(job: Job<JobPayload<'broadcast.dispatch'>>, ctx: WorkerContext): Promise<void> {
  const stopTimer = ctx.dispatchMetrics.dispatchSeconds.startTimer();
  let outcome = 'error'; // thrown: the job is retried
  try {
    const result = await dispatchBroadcast(ctx, job.data.broadcastId);
    outcome = result.outcome;
    ctx.logger.info('broadcast.dispatch finished', { ...result, broadcastId: job.data.broadcastId });
  } finally {
    stopTimer({ outcome });
  }
}
