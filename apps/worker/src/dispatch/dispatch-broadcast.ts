import type { TriggerRequest } from '@herald/core';
import {
  claimRun,
  describeRefusal,
  findBroadcast,
  handOffPosition,
  finishDispatch,
  isRefusedForGood,
  limitStatementTime,
  lockBotForDispatch,
  markTriggers,
  nextTriggersToApply,
  touchRun,
  type Broadcast,
  type ClaimedRun,
  type Db,
} from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';
import { applyBatch, type BatchContext, type BatchTrigger } from './apply-batch';
import { handOffDeliveries } from './hand-off-deliveries';

export type DispatchOutcome =
  | { outcome: 'no_broadcast' }
  | { outcome: 'nothing_pending' }
  | { outcome: 'cancelled'; runId: string }
  /** Another worker applied the triggers or finished the run first (a resumed run, a race). */
  | { outcome: 'done_elsewhere'; runId: string }
  | { outcome: 'dispatched'; runId: string; resumed: boolean; triggers: number; failed: number; targeted: number; chunks: number };

export interface DispatchDeps {
  db: Db;
  logger: Logger;
  /** Where the run's deliveries are handed off, in `delivery.chunk` jobs. */
  producer: Pick<JobProducer, 'addBulk'>;
  /** Deliveries per chunk job. */
  deliveryChunkSize: number;
  /**
   * The reconciler resumes a dispatch whose run shows no sign of life for this long; the
   * dispatch beats (touches its run) four times as often, so a live one is never taken over.
   */
  dispatchStuckAfterMs: number;
  /** Each statement applying a trigger is cancelled past this; the trigger is then `failed`. */
  dispatchStatementTimeoutMs: number;
  /** Most triggers applied in one transaction (a batch). */
  dispatchBatchTriggers: number;
}

/**
 * Thrown inside a trigger's transaction when the trigger is no longer pending (cancelled, or
 * applied by another worker): rolls its writes back.
 */
class TriggerCancelled extends Error {}

/**
 * The dispatch of a broadcast (SPEC §3.2): every pending trigger goes into one run, applied in
 * arrival order, in batches (apply-batch.ts): a batch's contact writes, its deliveries and its
 * triggers' `dispatched` marks commit together, in set-based statements. A crash anywhere
 * leaves a run that the next attempt resumes from the first trigger not yet marked; the unique
 * (run, contact) key makes the repeated statements harmless. A cancel between two batches
 * stops the run there. A trigger the database refuses for good is marked `failed`, and the
 * run goes on without it (applyTriggers).
 * Once every trigger is applied, the deliveries are handed to the channel queues; only then
 * does the run leave `dispatching`, so a crash during the hand-off is resumed like any other.
 */
export async function dispatchBroadcast(deps: DispatchDeps, broadcastId: string): Promise<DispatchOutcome> {
  const { db, logger } = deps;
  const broadcast = await findBroadcast(db, broadcastId);
  if (!broadcast) return { outcome: 'no_broadcast' };
  const run = await claimRun(db, broadcastId);
  if (!run) return { outcome: 'nothing_pending' };
  const log = logger.child({ broadcastId, runId: run.runId });
  if (run.resumed) log.info('resuming an unfinished dispatch');
  const heartbeat = startHeartbeat(db, run.runId, deps.dispatchStuckAfterMs / 4, log);
  try {
    return await dispatchRun(deps, broadcast, run, log);
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * Touches the run every `everyMs` while this worker works on it, from the pool rather than the
 * trigger's transaction: one audience statement over millions of contacts can outlast the stuck
 * deadline, and a live dispatch must not look dead (another worker would redo the statement).
 * The heartbeat stops with the process, which is what lets the reconciler tell the two apart.
 */
function startHeartbeat(db: Db, runId: string, everyMs: number, log: Logger): NodeJS.Timeout {
  const beat = () => touchRun(db, runId).catch((error: unknown) => log.warn('run heartbeat failed', { error }));
  void beat(); // a resumed run was stale: mark it alive at once
  const timer = setInterval(beat, everyMs);
  timer.unref();
  return timer;
}

async function dispatchRun(deps: DispatchDeps, broadcast: Broadcast, run: ClaimedRun, log: Logger): Promise<DispatchOutcome> {
  const { db } = deps;
  const context = { botId: broadcast.bot_id, runId: run.runId, configuredAudience: broadcast.audience };
  let applied = 0;
  let failed = 0;
  let afterSeq: string | null = null;
  // Read a page at a time; a batch cut short by its targets leaves the rest of the page for the next.
  let page: Awaited<ReturnType<typeof nextTriggersToApply>> = [];
  for (;;) {
    if (page.length === 0) page = await nextTriggersToApply(db, run, afterSeq, deps.dispatchBatchTriggers);
    const batch = cutBatch(page);
    if (batch.length === 0) break;
    page = page.slice(batch.length);
    const outcome = await applyTriggers(deps, context, batch, log);
    if (outcome === 'cancelled') return stopped(db, run.runId, log);
    applied += outcome.applied;
    failed += outcome.failed;
    afterSeq = batch.at(-1)!.seq;
  }

  const handOff = await handOffDeliveries({ db, producer: deps.producer, runId: run.runId, chunkSize: deps.deliveryChunkSize });
  if (handOff.outcome === 'stopped') return stopped(db, run.runId, log);
  const finished = await finishDispatch(db, run.runId);
  if (!finished) return stopped(db, run.runId, log);
  log.info('dispatch done', { triggers: applied, failed, targeted: finished.targeted, chunks: handOff.chunks, status: finished.status });
  return {
    outcome: 'dispatched',
    runId: run.runId,
    resumed: run.resumed,
    triggers: applied,
    failed,
    targeted: finished.targeted,
    chunks: handOff.chunks,
  };
}

/**
 * Why this worker found its run no longer its own: cancelled, or moved on by another worker
 * (which is doing, or has done, the rest). Nothing of this worker's unfinished step was kept.
 */
async function stopped(db: Db, runId: string, log: Logger): Promise<DispatchOutcome> {
  const position = await handOffPosition(db, runId);
  const outcome = position?.status === 'cancelled' ? 'cancelled' : 'done_elsewhere';
  log.info('dispatch stopped', { outcome, runStatus: position?.status });
  return { outcome, runId };
}

/**
 * Applies `triggers` (consecutive, in arrival order) in one transaction: their writes, their
 * deliveries and their `dispatched` marks commit together, and a cancel (which marks triggers
 * cancelled) takes effect between two such transactions.
 * Refused by the database for what one of them is (a constraint, a limit, the statement
 * timeout), the batch is halved and each half applied in turn, down to the trigger refused,
 * which is marked `failed` with the error: retrying it would wedge the broadcast, every later
 * call waiting behind this run. Halving finds it in about 2·log2(n) transactions, so a
 * recurring bad call does not drop a batch to one transaction per trigger.
 * Postgres unreachable, a lost race, a bug: thrown, so the job is retried and the triggers
 * applied then.
 */
async function applyTriggers(
  deps: DispatchDeps,
  context: BatchContext,
  triggers: readonly PendingTrigger[],
  log: Logger,
): Promise<{ applied: number; failed: number } | 'cancelled'> {
  const { db } = deps;
  try {
    await db.transaction().execute(async (trx) => {
      await lockBotForDispatch(trx, context.botId);
      await limitStatementTime(trx, deps.dispatchStatementTimeoutMs);
      const notes = await applyBatch(trx, context, triggers);
      if (
        !(await markTriggers(
          trx,
          'dispatched',
          context.runId,
          triggers.map(({ id }) => ({ id, notes: notes.get(id) ?? [] })),
        ))
      )
        throw new TriggerCancelled();
    });
    return { applied: triggers.length, failed: 0 };
  } catch (error) {
    if (error instanceof TriggerCancelled) return 'cancelled';
    if (!isRefusedForGood(error)) throw error;
    if (triggers.length > 1) {
      const half = Math.ceil(triggers.length / 2);
      const first = await applyTriggers(deps, context, triggers.slice(0, half), log);
      if (first === 'cancelled') return first;
      const second = await applyTriggers(deps, context, triggers.slice(half), log);
      if (second === 'cancelled') return second;
      return { applied: first.applied + second.applied, failed: first.failed + second.failed };
    }
    const [trigger] = triggers;
    const reason = describeRefusal(error);
    if (!(await markTriggers(db, 'failed', context.runId, [{ id: trigger!.id, notes: [`not applied: the database refused it: ${reason}`] }])))
      return 'cancelled';
    log.warn('trigger refused by the database: marked failed, the run goes on without it', { triggerId: trigger!.id, reason });
    return { applied: 0, failed: 1 };
  }
}

interface PendingTrigger extends BatchTrigger {
  seq: string;
}

/** Most targets one batch applies: a call may carry up to MAX_TARGETS_PER_CALL, a batch starts with one in any case. */
const MAX_BATCH_TARGETS = 10_000;

/** The longest prefix of `triggers` within MAX_BATCH_TARGETS (at least one trigger). */
function cutBatch(triggers: readonly { id: string; seq: string; request: TriggerRequest }[]): PendingTrigger[] {
  const batch: PendingTrigger[] = [];
  let targets = 0;
  for (const trigger of triggers) {
    const { request } = trigger;
    targets += request.mode === 'targets' ? request.targets.length : 1;
    if (batch.length > 0 && targets > MAX_BATCH_TARGETS) break;
    batch.push({ id: trigger.id, seq: trigger.seq, request });
  }
  return batch;
}
