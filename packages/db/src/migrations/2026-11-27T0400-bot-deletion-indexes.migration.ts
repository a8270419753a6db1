import { sql, type Kysely } from 'kysely';

/**
 * Indexes on the two foreign keys that had none, so deleting a bot (DELETE /v1/bots/:id) or a
 * broadcast costs in proportion to what it has, not to what every bot has. Deleting a row makes
 * Postgres look up, one deleted row at a time, the rows that refer to it (ON DELETE CASCADE);
 * without an index each look-up scans the whole referring table.
 * - deliveries (contact_id): each contact deleted scanned every delivery of every bot. A bot of
 *   100,000 contacts beside 200,000 deliveries took 445 s to delete; with the index, 2.4 s.
 * - idempotency_keys (trigger_id): each trigger deleted scanned the keys of the last 24 hours.
 *   20,000 triggers beside 20,000 keys took 16 s.
 * Neither column is ever updated, so outcomes stay HOT updates (see migration 0500); a dispatch
 * pays one more index entry per delivery it inserts (bench:dispatch, 50,000 deliveries: written
 * in 1.4 s without it, 1.5–1.8 s with it, the bare INSERT … SELECT going from 1.1 to 1.2–1.4 s),
 * a hook call with an Idempotency-Key one per key.
 *
 * The migrator runs in one transaction, so each index is built with writes to its table held
 * meanwhile (about a second per million rows). On a large deliveries table, build them
 * beforehand without holding writes, and this migration then finds them and does nothing:
 *   CREATE INDEX CONCURRENTLY deliveries_contact_idx ON deliveries (contact_id);
 *   CREATE INDEX CONCURRENTLY idempotency_keys_trigger_idx ON idempotency_keys (trigger_id);
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS deliveries_contact_idx ON deliveries (contact_id)`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS idempotency_keys_trigger_idx ON idempotency_keys (trigger_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX idempotency_keys_trigger_idx`.execute(db);
  await sql`DROP INDEX deliveries_contact_idx`.execute(db);
}
