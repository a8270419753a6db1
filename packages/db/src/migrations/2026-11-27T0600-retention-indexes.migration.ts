import { sql, type Kysely } from 'kysely';

/**
 * Indexes for retention (RETENTION_DAYS; docs/operations.md, retention), so that each batch of
 * the purge finds its rows without reading what it keeps:
 * - runs_finished_idx: finished runs, oldest first. Partial on the final statuses, whose rows no
 *   longer change status or finished_at: the counters a late receipt adds to stay HOT updates.
 * - provider_messages_delivery_idx: a batch of deliveries deleted takes the provider message
 *   ids recorded for them in the same statement (provider_messages has no foreign key). One
 *   more entry per send, on a column written once.
 * - triggers_unattached_final_idx: triggers that ended in no run (cancelled while pending), by
 *   when they ended. A trigger enters it only when it is cancelled: the hook's INSERT (a pending
 *   trigger) and the dispatch's UPDATE (which sets run_id) add nothing to it. Triggers of a run
 *   go with their run, through triggers_run_idx.
 * deliveries_run_id_idx (run_id, id) already serves a run's deliveries.
 *
 * The migrator runs in one transaction, so each index is built with writes to its table held
 * meanwhile (about a second per million rows). On large tables, build them beforehand without
 * holding writes, and this migration then finds them and does nothing:
 *   CREATE INDEX CONCURRENTLY runs_finished_idx ON runs (finished_at)
 *     WHERE status IN ('completed', 'cancelled', 'failed');
 *   CREATE INDEX CONCURRENTLY provider_messages_delivery_idx ON provider_messages (delivery_id);
 *   CREATE INDEX CONCURRENTLY triggers_unattached_final_idx ON triggers ((coalesce(status_changed_at, received_at)))
 *     WHERE status <> 'pending' AND run_id IS NULL;
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX IF NOT EXISTS runs_finished_idx ON runs (finished_at)
    WHERE status IN ('completed', 'cancelled', 'failed')`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS provider_messages_delivery_idx ON provider_messages (delivery_id)`.execute(db);
  await sql`
    CREATE INDEX IF NOT EXISTS triggers_unattached_final_idx ON triggers ((coalesce(status_changed_at, received_at)))
    WHERE status <> 'pending' AND run_id IS NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX triggers_unattached_final_idx`.execute(db);
  await sql`DROP INDEX provider_messages_delivery_idx`.execute(db);
  await sql`DROP INDEX runs_finished_idx`.execute(db);
}
