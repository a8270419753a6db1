import type { Job } from 'bullmq';
import { dispatchDelayMs } from '@herald/core';
import {
  broadcastsPostponedTooLong,
  broadcastsWithPendingTriggers,
  broadcastsWithStuckDispatch,
  applyPendingReceipts,
  closeExpiredClaimsOfStoppedRuns,
  deleteExpiredIdempotencyKeys,
  releaseExpiredClaims,
  runsAwaitingDelivery,
  stalledDeliveries,
} from '@herald/db';
import type { JobPayload } from '@herald/queue';
import { replayHandOff } from '../dispatch/hand-off-deliveries';
import type { WorkerContext } from '../worker-context';

/** A broadcast called within this is being armed by the ingress itself (see broadcastsWithPendingTriggers). */
const QUIET_FOR_MS = 2_000;

/**
 * `maintenance.reconcile`, every RECONCILE_INTERVAL_MS (SPEC §7): Postgres is the source of
 * truth, so whatever Redis lost is rebuilt from it.
 * 1. A broadcast with pending triggers but no armed timer (Redis flushed or restarted without
 *    its data, or Redis was down when the call came) gets its timer back, due when it would
 *    have been: delay_ms after its last call (capped by max_delay_ms).
 * 2. A dispatch whose heartbeat stopped DISPATCH_STUCK_AFTER_MS ago gets a timer due now:
 *    the dispatcher resumes its run. So does a broadcast without max_delay_ms whose calls
 *    kept re-arming its timer for DISPATCH_MAX_POSTPONE_MS past its delay.
 * 3. Idempotency keys past their 24 h are deleted.
 * 4. When Redis lost its data (its marker key is gone), every run whose deliveries wait in the
 *    channel queues is handed off again: chunks Redis lost come back, the others are left alone.
 * 5. Claims whose worker died (lease expired) go back to `queued` and get a chunk job: they are
 *    sent again (at-least-once; docs/architecture.md says what that window holds). In a run cancelled
 *    meanwhile they are skipped instead, so the run's counts still add up.
 * 6. A delivering run with due deliveries but no progress for DELIVERY_STALLED_AFTER_MS (its
 *    chunk jobs failed for good, or were lost) gets a chunk job over them.
 */
export async function maintenanceReconcileProcessor(
  _job: Job<JobPayload<'maintenance.reconcile'>>,
  { db, logger, producer, dispatchStuckAfterMs, dispatchMaxPostponeMs, deliveryChunkSize, deliveryStalledAfterMs }: WorkerContext,
): Promise<void> {
  if (!(await producer.areQueuesIntact())) {
    const runs = await runsAwaitingDelivery(db);
    let chunks = 0;
    for (const runId of runs) chunks += await replayHandOff({ db, producer, runId, chunkSize: deliveryChunkSize });
    // Marked only once every run is handed off again: a crash before that replays it all.
    await producer.markQueuesIntact();
    logger.log(runs.length ? 'warn' : 'info', 'redis had lost its data (or is new): delivery chunks handed off again', { runs: runs.length, chunks });
  }

  let rearmed = 0;
  for (const pending of await broadcastsWithPendingTriggers(db, QUIET_FOR_MS)) {
    const sinceLast = pending.now.getTime() - pending.last_at.getTime();
    const delayMs = dispatchDelayMs({
      delayMs: Math.max(0, pending.delay_ms - sinceLast),
      maxDelayMs: pending.max_delay_ms,
      now: pending.now,
      firstPendingAt: pending.first_at,
    });
    if (!(await producer.ensureTimerArmed('broadcast.dispatch', { broadcastId: pending.broadcast_id }, delayMs))) continue;
    rearmed++;
    logger.warn('re-armed a lost dispatch timer', { broadcastId: pending.broadcast_id, delayMs });
  }

  for (const broadcastId of await broadcastsPostponedTooLong(db, dispatchMaxPostponeMs)) {
    await producer.armTimer('broadcast.dispatch', { broadcastId }, 0);
    logger.warn('calls kept postponing a dispatch past DISPATCH_MAX_POSTPONE_MS: dispatching now', { broadcastId });
  }

  const stuck = await broadcastsWithStuckDispatch(db, dispatchStuckAfterMs);
  for (const broadcastId of stuck) {
    await producer.armTimer('broadcast.dispatch', { broadcastId }, 0);
    logger.warn('retrying a stuck dispatch', { broadcastId });
  }

  const expired = await deleteExpiredIdempotencyKeys(db);

  // Job ids name the sweep's time, so each sweep adds its own job (the last one may be kept,
  // completed, in Redis) and one sweep retried adds nothing twice.
  const now = Date.now();
  const closed = await closeExpiredClaimsOfStoppedRuns(db);
  if (closed) logger.info('claims of a dead worker in cancelled runs skipped', { deliveries: closed });
  const released = await releaseExpiredClaims(db);
  for (const span of released) await producer.add('delivery.chunk', { ...span, generation: `l${now}` });
  if (released.length) logger.warn('claims of a dead worker released: their deliveries are sent again', { spans: released.length });
  const stalled = await stalledDeliveries(db, deliveryStalledAfterMs);
  for (const span of stalled) await producer.add('delivery.chunk', { ...span, generation: `s${now}` });
  if (stalled.length) logger.warn('delivering runs without progress: chunks added again', { spans: stalled.length });
  // Receipts that reached the ingress before the send they report was recorded.
  const receipts = await applyPendingReceipts(db);
  if (receipts.applied || receipts.dropped) logger.info('parked receipts applied', receipts);

  if (rearmed || stuck.length || expired) logger.info('reconciled', { rearmed, stuck: stuck.length, expiredIdempotencyKeys: expired });
}
