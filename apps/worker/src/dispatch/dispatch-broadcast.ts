import { splitAssignments, type Audience, type TriggerRequest } from '@herald/core';
import {
  applyToAudience,
  applyToContact,
  applyToContacts,
  claimRun,
  describeRefusal,
  findBroadcast,
  findConversation,
  handOffPosition,
  finishDispatch,
  isRefusedForGood,
  limitStatementTime,
  markTriggerDispatched,
  markTriggerFailed,
  nextTriggerToApply,
  touchRun,
  type Broadcast,
  type ContactUpsert,
  type Db,
} from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';
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
}

/**
 * Thrown inside a trigger's transaction when the trigger is no longer pending (cancelled, or
 * applied by another worker): rolls its writes back.
 */
class TriggerCancelled extends Error {}

/**
 * The dispatch of a broadcast (SPEC §3.2): every pending trigger goes into one run, applied in
 * arrival order, each in its own transaction (its contact writes, its deliveries, and its
 * `dispatched` mark commit together). A crash anywhere leaves a run that the next attempt
 * resumes from the first trigger not yet marked; the unique (run, contact) key makes the
 * repeated statements harmless. A cancel between two triggers stops the run there.
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

async function dispatchRun(
  deps: DispatchDeps,
  broadcast: Broadcast,
  run: { runId: string; resumed: boolean },
  log: Logger,
): Promise<DispatchOutcome> {
  const { db } = deps;
  let applied = 0;
  let failed = 0;
  let afterSeq: string | null = null;
  for (;;) {
    const trigger = await nextTriggerToApply(db, run.runId, afterSeq);
    if (!trigger) break;
    afterSeq = trigger.seq;
    try {
      await db.transaction().execute(async (trx) => {
        await limitStatementTime(trx, deps.dispatchStatementTimeoutMs);
        const notes = await applyTrigger(trx, {
          botId: broadcast.bot_id,
          runId: run.runId,
          configuredAudience: broadcast.audience as Audience,
          request: trigger.request as TriggerRequest,
        });
        if (!(await markTriggerDispatched(trx, trigger.id, notes))) throw new TriggerCancelled();
      });
      applied++;
    } catch (error) {
      if (error instanceof TriggerCancelled) return stopped(db, run.runId, log);
      // Postgres unreachable, a lost race, a bug: thrown, so the job is retried and this
      // trigger applied then. Refused for what it is: retrying would wedge the broadcast (every
      // later call waits behind this run), so it fails alone and the run goes on.
      if (!isRefusedForGood(error)) throw error;
      const reason = describeRefusal(error);
      const notes = [`not applied: the database refused it: ${reason}`];
      if (!(await markTriggerFailed(db, trigger.id, notes))) return stopped(db, run.runId, log);
      failed++;
      log.warn('trigger refused by the database: marked failed, the run goes on without it', { triggerId: trigger.id, reason });
    }
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

interface TriggerStep {
  botId: string;
  runId: string;
  configuredAudience: Audience;
  request: TriggerRequest;
}

/** Applies one trigger; returns its outcome notes (e.g. why a conversation was not created). */
async function applyTrigger(db: Db, { botId, runId, configuredAudience, request }: TriggerStep): Promise<string[]> {
  switch (request.mode) {
    case 'audience': {
      await applyToAudience(db, {
        botId,
        runId,
        audience: request.audience ?? configuredAudience,
        writes: splitAssignments(request.set_variables),
      });
      return [];
    }
    case 'set_conversation': {
      const writes = splitAssignments(request.set_variables);
      const found = await findConversation(db, {
        botId,
        userId: request.user_id,
        phone: request.user_phone_number,
        channel: request.bot_channel,
      });
      if (found) {
        await applyToContact(db, { runId, contact: found, writes });
        return [];
      }
      if (!request.bot_channel || !request.user_id) {
        return [`contact not created: ${request.bot_channel ? 'user_id' : 'bot_channel'} missing`];
      }
      await applyToContacts(db, {
        botId,
        runId,
        contacts: [
          {
            bot_channel: request.bot_channel,
            user_id: request.user_id,
            user_phone_number: request.user_phone_number,
            ...nullColumns(),
            ...writes.columns,
            variables: writes.variables,
          },
        ],
      });
      return [];
    }
    case 'targets': {
      // Top-level set_variables apply to every target; a target's own ones win.
      const contacts: ContactUpsert[] = request.targets.map((target) => {
        const writes = splitAssignments({ ...request.set_variables, ...target.variables });
        return {
          bot_channel: target.bot_channel,
          user_id: target.user_id,
          user_phone_number: target.user_phone_number,
          ...nullColumns(),
          ...writes.columns,
          variables: writes.variables,
        };
      });
      await applyToContacts(db, { botId, runId, contacts });
      return [];
    }
  }
}

/** Unset columns of an upserted contact: the upsert keeps what the contact already had. */
function nullColumns() {
  return { first_name: null, last_name: null, user_name: null, locale: null };
}
