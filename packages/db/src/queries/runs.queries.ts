import { sql } from 'kysely';
import type { InProgressRunStatus } from '@herald/core';
import type { Db } from '../create-db';
import { beforeKeyset, type NewestFirstPage } from './newest-first';
import type { DeliveryReason, DeliveryStatus, Run, Trigger, TriggerStatus } from '../schema';

/** Reads behind the admin API's triggers, runs and deliveries (keyset-paginated lists). */

export async function findTrigger(db: Db, id: string): Promise<Trigger | undefined> {
  return db.selectFrom('triggers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Newest first; `beforeSeq` is the cursor (the seq of the last trigger of the previous page). */
export async function listTriggers(db: Db, broadcastId: string, page: { limit: number; beforeSeq?: string; status?: TriggerStatus }): Promise<Trigger[]> {
  let query = db.selectFrom('triggers').selectAll().where('broadcast_id', '=', broadcastId).orderBy('seq', 'desc').limit(page.limit);
  if (page.beforeSeq) query = query.where('seq', '<', page.beforeSeq);
  if (page.status) query = query.where('status', '=', page.status);
  return query.execute();
}

export async function findRun(db: Db, id: string): Promise<Run | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Newest first; the cursor is the last run's (created_at, id). */
export async function listRuns(db: Db, broadcastId: string, page: NewestFirstPage): Promise<Run[]> {
  let query = db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcastId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit);
  if (page.before) query = query.where(beforeKeyset(page.before));
  return query.execute();
}

/**
 * The runs in progress, per status: how many, and how long ago the least recently active of
 * them showed activity (a dispatch's heartbeat, a delivery's outcome). Read through the
 * partial index of runs in progress, so it costs the same however many finished runs the
 * table holds; the metrics read it at each scrape.
 */
export async function runsInProgress(db: Db): Promise<Partial<Record<InProgressRunStatus, { runs: number; idleSeconds: number }>>> {
  const { rows } = await sql<{ status: InProgressRunStatus; runs: number; idle_seconds: number }>`
    SELECT status, count(*)::int AS runs, extract(epoch FROM now() - min(updated_at))::float8 AS idle_seconds
    FROM runs WHERE status IN ('dispatching', 'delivering') -- runs_active_idx's predicate, verbatim
    GROUP BY status`.execute(db);
  return Object.fromEntries(rows.map((row) => [row.status, { runs: row.runs, idleSeconds: Math.max(0, row.idle_seconds) }]));
}

/** A page of a run's deliveries in id order; `afterId` is the cursor. */
export async function listDeliveries(db: Db, runId: string, page: { limit: number; afterId?: string; status?: DeliveryStatus; reason?: DeliveryReason }) {
  let query = db
    .selectFrom('deliveries')
    .innerJoin('contacts', 'contacts.id', 'deliveries.contact_id')
    .select([
      'deliveries.id',
      'deliveries.contact_id',
      'contacts.user_id',
      'deliveries.channel',
      'deliveries.status',
      'deliveries.attempts',
      'deliveries.provider_message_id',
      'deliveries.reason',
      'deliveries.error_code',
      'deliveries.last_error',
      'deliveries.next_attempt_at',
      'deliveries.text',
      'deliveries.created_at',
      'deliveries.updated_at',
      'deliveries.sent_at',
      'deliveries.delivered_at',
      'deliveries.read_at',
      'deliveries.failed_at',
    ])
    .where('deliveries.run_id', '=', runId)
    .orderBy('deliveries.id')
    .limit(page.limit);
  if (page.afterId) query = query.where('deliveries.id', '>', page.afterId);
  if (page.status) query = query.where('deliveries.status', '=', page.status);
  if (page.reason) query = query.where('deliveries.reason', '=', page.reason);
  return query.execute();
}

/**
 * Cancels a broadcast's pending triggers and its runs in progress (SPEC §3.2): deliveries not
 * yet handed to a provider become `skipped`. The dispatcher checks each trigger's status in the
 * transaction that applies it, so nothing is applied or queued after this commits.
 */
export async function cancelBroadcast(db: Db, broadcastId: string): Promise<{ triggers: number; runs: string[]; skipped: number }> {
  return db.transaction().execute(async (trx) => {
    const triggers = await trx
      .updateTable('triggers')
      .set({ status: 'cancelled', status_changed_at: new Date() })
      .where('broadcast_id', '=', broadcastId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    const runs = await trx
      .updateTable('runs')
      .set({ status: 'cancelled', finished_at: new Date(), updated_at: new Date() })
      .where('broadcast_id', '=', broadcastId)
      .where('status', 'in', ['dispatching', 'delivering'])
      .returning('id')
      .execute();
    const runIds = runs.map((r) => r.id);
    let skipped = 0;
    if (runIds.length) {
      // Counted on each run as it happens, like every other outcome (no recount): deliveries
      // being sent right now are not touched here; their outcome is counted when it comes.
      const { rows } = await sql<{ run_id: string; n: number }>`
        WITH skipped AS (
          UPDATE deliveries SET status = 'skipped', reason = 'cancelled', next_attempt_at = NULL, updated_at = now()
          WHERE run_id = ANY(${runIds}::uuid[]) AND status = 'queued'
          RETURNING run_id
        ), counted AS (SELECT run_id, count(*)::int AS n FROM skipped GROUP BY run_id)
        UPDATE runs SET skipped = runs.skipped + counted.n FROM counted WHERE runs.id = counted.run_id
        RETURNING runs.id AS run_id, counted.n`.execute(trx);
      skipped = rows.reduce((sum, row) => sum + row.n, 0);
    }
    return { triggers: Number(triggers.numUpdatedRows), runs: runIds, skipped };
  });
}
