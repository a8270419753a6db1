import { sql } from 'kysely';
import type { Db } from '../create-db';

/**
 * Retention (RETENTION_DAYS): what grows with traffic is deleted once it is older than a
 * horizon, at most `limit` rows per statement, so that no statement holds its locks for long
 * or sets off a large cascade. The worker's retention pass (apps/worker/src/retention) calls
 * these in turn, each statement in a short transaction of its own, until they come back short.
 *
 * What goes:
 * - A run in a final state that finished before the horizon, with its triggers (and their
 *   idempotency keys, by cascade), its deliveries, the provider message ids recorded for them
 *   and their web outbox messages (by cascade, through web_outbox_delivery_key). Its triggers
 *   and deliveries are deleted in batches first and the run last, once nothing refers to it:
 *   deleting the run itself would otherwise delete its million deliveries in one statement
 *   (ON DELETE CASCADE) and rewrite each of its triggers (ON DELETE SET NULL).
 * - A trigger in no run (cancelled while pending) whose status became final before the horizon.
 * What stays, however old: runs in progress and everything of theirs, pending triggers, and a
 * final run without `finished_at` (Herald writes none).
 *
 * Every subquery picks ids through an index (see migration 0600) and hands them over as an
 * array, `id = ANY(ARRAY(…))`, so each DELETE finds its rows by primary key rather than by a
 * join the planner might turn into a scan of the whole table.
 */

/** Must match runs_finished_idx's predicate for the index to be used: literal, not a parameter. */
const FINAL_RUN_STATUSES = sql.raw(`('completed', 'cancelled', 'failed')`);

/** The finished runs past the horizon, oldest first, at most `limit` of them. */
const expiredRuns = (before: Date, limit: number) => sql`
  SELECT id FROM runs WHERE status IN ${FINAL_RUN_STATUSES} AND finished_at < ${before} ORDER BY finished_at LIMIT ${limit}`;

/** Now minus `days`, on the database's clock: the one every row was stamped with. */
export async function retentionHorizon(db: Db, days: number): Promise<Date> {
  const { rows } = await sql<{ horizon: Date }>`SELECT now() - ${days} * interval '1 day' AS horizon`.execute(db);
  return rows[0]!.horizon;
}

/**
 * Deletes up to `limit` triggers of runs finished before `before`, from the oldest runs. Their
 * idempotency keys follow by cascade (through idempotency_keys_trigger_idx).
 */
export async function purgeTriggersOfExpiredRuns(db: Db, before: Date, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM triggers WHERE id = ANY(ARRAY(
      SELECT t.id FROM (${expiredRuns(before, limit)}) r
      CROSS JOIN LATERAL (SELECT id FROM triggers WHERE run_id = r.id LIMIT ${limit}) t
      LIMIT ${limit}))`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Deletes up to `limit` deliveries of runs finished before `before`, from the oldest runs, and
 * in the same statement the provider message ids recorded for them (a delivery sent twice has
 * two). Their web outbox messages follow by cascade.
 */
export async function purgeDeliveriesOfExpiredRuns(db: Db, before: Date, limit: number): Promise<{ deliveries: number; providerMessages: number }> {
  const { rows } = await sql<{ deliveries: number; providerMessages: number }>`
    WITH gone AS (
      DELETE FROM deliveries WHERE id = ANY(ARRAY(
        SELECT d.id FROM (${expiredRuns(before, limit)}) r
        CROSS JOIN LATERAL (SELECT id FROM deliveries WHERE run_id = r.id ORDER BY id LIMIT ${limit}) d
        LIMIT ${limit}))
      RETURNING id
    ), messages AS (
      DELETE FROM provider_messages WHERE delivery_id = ANY(ARRAY(SELECT id FROM gone)) RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone)::int AS deliveries, (SELECT count(*) FROM messages)::int AS "providerMessages"`.execute(db);
  return rows[0]!;
}

/**
 * Deletes up to `limit` runs finished before `before` that nothing refers to any more (their
 * triggers and deliveries already deleted): the cascades of these deletes find nothing. Leases
 * of a deleted run, if any were left, are the reconciler's to remove.
 */
export async function purgeEmptyExpiredRuns(db: Db, before: Date, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM runs WHERE id = ANY(ARRAY(
      SELECT r.id FROM runs r
      WHERE r.status IN ${FINAL_RUN_STATUSES} AND r.finished_at < ${before}
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = r.id)
        AND NOT EXISTS (SELECT 1 FROM triggers t WHERE t.run_id = r.id)
      ORDER BY r.finished_at LIMIT ${limit}))`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Deletes up to `limit` triggers that ended in no run (cancelled while pending) before
 * `before`, oldest first, through triggers_unattached_final_idx (its expression and predicate,
 * spelled the same here). Pending triggers are never in it.
 */
export async function purgeUnattachedTriggers(db: Db, before: Date, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM triggers WHERE id = ANY(ARRAY(
      SELECT id FROM triggers
      WHERE status <> 'pending' AND run_id IS NULL AND coalesce(status_changed_at, received_at) < ${before}
      ORDER BY coalesce(status_changed_at, received_at) LIMIT ${limit}))`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * One retention pass at a time, across every worker: a session advisory lock, held by the
 * connection the pass runs on (so a worker that dies releases it with its connection). BullMQ's
 * job scheduler adds the next job when one starts, not when it ends, so a pass longer than
 * RETENTION_INTERVAL_MS would otherwise have another start beside it.
 */
export async function tryRetentionLock(db: Db): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(hashtext('herald:maintenance.retention')) AS locked`.execute(db);
  return rows[0]!.locked;
}

export async function releaseRetentionLock(db: Db): Promise<void> {
  await sql`SELECT pg_advisory_unlock(hashtext('herald:maintenance.retention'))`.execute(db);
}
