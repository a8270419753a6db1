import { sql } from 'kysely';
import type { Db } from '../create-db';
import type { DeliveryStatus, Run, Trigger, TriggerStatus } from '../schema';

/** Reads behind the admin API's triggers, runs and deliveries (keyset-paginated lists). */

export async function findTrigger(db: Db, id: string): Promise<Trigger | undefined> {
  return db.selectFrom('triggers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Newest first; `beforeSeq` is the cursor (the seq of the last trigger of the previous page). */
export async function listTriggers(
  db: Db,
  broadcastId: string,
  page: { limit: number; beforeSeq?: string; status?: TriggerStatus },
): Promise<Trigger[]> {
  let query = db.selectFrom('triggers').selectAll().where('broadcast_id', '=', broadcastId).orderBy('seq', 'desc').limit(page.limit);
  if (page.beforeSeq) query = query.where('seq', '<', page.beforeSeq);
  if (page.status) query = query.where('status', '=', page.status);
  return query.execute();
}

export async function findRun(db: Db, id: string): Promise<Run | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Newest first; the cursor is the last run's (created_at, id). */
export async function listRuns(db: Db, broadcastId: string, page: { limit: number; before?: { createdAt: Date; id: string } }): Promise<Run[]> {
  let query = db
    .selectFrom('runs')
    .selectAll()
    .where('broadcast_id', '=', broadcastId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.before) {
    const { createdAt, id } = page.before;
    query = query.where(sql<boolean>`(created_at, id) < (${createdAt}, ${id}::uuid)`);
  }
  return query.execute();
}

export type DeliveryCounts = Record<DeliveryStatus, number>;

/** Exact counts of a run's deliveries by status (one pass over the run's index range). */
export async function countDeliveries(db: Db, runId: string): Promise<DeliveryCounts> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('run_id', '=', runId)
    .groupBy('status')
    .execute();
  const counts: DeliveryCounts = { queued: 0, sent: 0, failed: 0, skipped: 0 };
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

/** A page of a run's deliveries in id order; `afterId` is the cursor. */
export async function listDeliveries(db: Db, runId: string, page: { limit: number; afterId?: string; status?: DeliveryStatus }) {
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
      'deliveries.last_error',
      'deliveries.text',
      'deliveries.created_at',
      'deliveries.updated_at',
      'deliveries.sent_at',
    ])
    .where('deliveries.run_id', '=', runId)
    .orderBy('deliveries.id')
    .limit(page.limit);
  if (page.afterId) query = query.where('deliveries.id', '>', page.afterId);
  if (page.status) query = query.where('deliveries.status', '=', page.status);
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
      const result = await trx
        .updateTable('deliveries')
        .set({ status: 'skipped', last_error: 'cancelled', updated_at: new Date() })
        .where('run_id', 'in', runIds)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      skipped = Number(result.numUpdatedRows);
      await sql`
        UPDATE runs SET skipped = (SELECT count(*) FROM deliveries d WHERE d.run_id = runs.id AND d.status = 'skipped')
        WHERE id = ANY(${runIds}::uuid[])`.execute(trx);
    }
    return { triggers: Number(triggers.numUpdatedRows), runs: runIds, skipped };
  });
}
