import type { Job } from 'bullmq';
import type { JobPayload } from '@herald/queue';
import { deliverChunk } from '../delivery/deliver-chunk';
import type { WorkerContext } from '../worker-context';

/**
 * `delivery.chunk`: sends a chunk of a run's deliveries on one channel. Idempotent: only
 * deliveries still queued (or left by a dead worker) are claimed, so a chunk run twice, or two
 * overlapping chunks, send nothing twice. What must wait comes back as a later chunk job.
 */
export async function deliveryChunkProcessor(job: Job<JobPayload<'delivery.chunk'>>, ctx: WorkerContext): Promise<void> {
  const result = await deliverChunk({ db: ctx.db, logger: ctx.logger, producer: ctx.producer, ...ctx.delivery }, job.data);
  ctx.logger.debug('delivery.chunk finished', { ...result, runId: job.data.runId });
}
