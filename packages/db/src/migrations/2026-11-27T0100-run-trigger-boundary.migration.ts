import { sql, type Kysely } from 'kysely';

/**
 * A run names its triggers by a boundary instead of a mark on each: it holds its broadcast's
 * triggers that were pending when it was claimed, i.e. pending ones with seq <= last_trigger_seq.
 * Claiming a backlog of 100,000 triggers used to write `run_id` into each row (an UPDATE
 * writing a new version of every row and an entry into each of its five indexes) only for the
 * dispatch to write every row again when it marks it applied. Now a trigger gets its `run_id`
 * with that mark, in the same statement; a pending trigger's `run_id` stays NULL.
 *
 * Upgrade: a run left `dispatching` by the previous version keeps its triggers (its boundary
 * is the last of those it claimed). Downgrade: the pending triggers inside a dispatching run's
 * boundary are marked with the run again, as the previous version expects.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE runs ADD COLUMN last_trigger_seq bigint`.execute(db);
  await sql`
    UPDATE runs r SET last_trigger_seq = (SELECT max(t.seq) FROM triggers t WHERE t.run_id = r.id)
    WHERE r.status = 'dispatching'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    UPDATE triggers t SET run_id = r.id
    FROM runs r
    WHERE r.status = 'dispatching' AND t.broadcast_id = r.broadcast_id
      AND t.status = 'pending' AND t.run_id IS NULL AND t.seq <= r.last_trigger_seq`.execute(db);
  await sql`ALTER TABLE runs DROP COLUMN last_trigger_seq`.execute(db);
}
