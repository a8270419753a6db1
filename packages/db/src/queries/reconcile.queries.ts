import { sql } from 'kysely';
import type { Db } from '../create-db';
import { IDEMPOTENCY_WINDOW } from './idempotency.queries';
import { dispatchingBoundary } from './dispatch.queries';

/** What the reconciler reads: the work Postgres says exists, whatever Redis remembers. */

export interface PendingBroadcast {
  broadcast_id: string;
  delay_ms: number;
  max_delay_ms: number | null;
  first_at: Date;
  last_at: Date;
  now: Date;
}

/**
 * Broadcasts with accepted triggers not yet in a run, the last of them at least `quietForMs`
 * old: each needs an armed timer. A broadcast called more recently is left out: the ingress
 * arms the timer right after committing a call, so a pass in between would "re-arm" a timer
 * that was never lost; and if that arm failed (Redis down), the broadcast's next call arms it,
 * or the next pass once the calls stop.
 */
export async function broadcastsWithPendingTriggers(db: Db, quietForMs: number): Promise<PendingBroadcast[]> {
  const { rows } = await sql<PendingBroadcast>`
    SELECT t.broadcast_id, b.delay_ms, b.max_delay_ms,
           min(t.received_at) AS first_at, max(t.received_at) AS last_at, now() AS now
    FROM triggers t JOIN broadcasts b ON b.id = t.broadcast_id
    WHERE t.status = 'pending' AND t.seq > ${dispatchingBoundary(sql.ref('t.broadcast_id'))}
    GROUP BY t.broadcast_id, b.delay_ms, b.max_delay_ms
    HAVING max(t.received_at) < now() - ${quietForMs} * interval '1 millisecond'`.execute(db);
  return rows;
}

/**
 * Broadcasts without `max_delay_ms` whose first pending call (past any dispatch under way) is
 * older than their delay plus `maxPostponeMs`: a steady stream of calls kept re-arming their
 * timer. Not while one of their runs is being dispatched: the calls after it wait for it.
 */
export async function broadcastsPostponedTooLong(db: Db, maxPostponeMs: number): Promise<string[]> {
  const { rows } = await sql<{ broadcast_id: string }>`
    SELECT t.broadcast_id
    FROM triggers t JOIN broadcasts b ON b.id = t.broadcast_id
    WHERE t.status = 'pending' AND b.max_delay_ms IS NULL
      AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.broadcast_id = t.broadcast_id AND r.status = 'dispatching')
    GROUP BY t.broadcast_id, b.delay_ms
    HAVING min(t.received_at) < now() - (b.delay_ms + ${maxPostponeMs}) * interval '1 millisecond'`.execute(db);
  return rows.map((r) => r.broadcast_id);
}

/** Broadcasts whose dispatch has not beaten for `stuckAfterMs` (its worker died). */
export async function broadcastsWithStuckDispatch(db: Db, stuckAfterMs: number): Promise<string[]> {
  const { rows } = await sql<{ broadcast_id: string }>`
    SELECT DISTINCT broadcast_id FROM runs
    WHERE status = 'dispatching' AND updated_at < now() - ${stuckAfterMs} * interval '1 millisecond'`.execute(db);
  return rows.map((r) => r.broadcast_id);
}

/**
 * Runs handed off to the channel queues whose deliveries are not all final: what the delivery
 * queues must hold. After Redis lost its data the reconciler hands these off again.
 */
export async function runsAwaitingDelivery(db: Db): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT r.id FROM runs r
    WHERE r.status = 'delivering'
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = r.id AND d.status = 'queued')
    ORDER BY r.created_at`.execute(db);
  return rows.map((r) => r.id);
}

/** Marks progress on a run, so the reconciler can tell a long dispatch from a dead one. */
export async function touchRun(db: Db, runId: string): Promise<void> {
  await db.updateTable('runs').set({ updated_at: new Date() }).where('id', '=', runId).execute();
}

export async function deleteExpiredIdempotencyKeys(db: Db): Promise<number> {
  const result = await db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<=', sql<Date>`now() - ${IDEMPOTENCY_WINDOW}::interval`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
