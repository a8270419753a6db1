import { sql, type Kysely } from 'kysely';

/**
 * Claims keep their leases in a journal of their own, so a claim and its outcome update a
 * delivery without touching any of its indexes.
 * - `delivery_leases`: one row per claim (its run, the id span of its rows, until when it
 *   holds them), written by the claim statement. The reconciler finds expired claims here, by
 *   `lease_until`, instead of through an index on `deliveries`.
 * - `deliveries_lease_idx` goes: an index naming `status` or `lease_until` made every claim and
 *   every outcome a non-HOT update (a new entry in each of the table's indexes, twice per
 *   delivery). With no indexed column changed and room left on the page (fillfactor 60, for
 *   pages written from now on), both are HOT updates: in `pnpm bench:deliver` Postgres spent
 *   half the time on claims and outcomes.
 * - A delivery holds a claim exactly while it is being sent: `claim_id` is set with
 *   `status = 'sending'` and cleared by every statement that moves it on. The outcome statement
 *   finds its rows by `(id, claim_id)` alone and relies on this to know they are still `sending`.
 * Run it with the workers stopped (docs/operations.md, upgrades): the migrator applies migrations in one
 * transaction, so `deliveries` is locked while its rows are checked, and a worker of the
 * previous version would claim without journaling a lease, its claims then never released.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE delivery_leases (
      claim_id    uuid PRIMARY KEY,
      -- No foreign key: its check would take a share lock on the run's row at every claim, which
      -- the outcome statements lock for update; the reconciler removes leases of deleted runs.
      run_id      uuid NOT NULL,
      first_id    bigint NOT NULL,
      last_id     bigint NOT NULL,
      lease_until timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX delivery_leases_until_idx ON delivery_leases (lease_until)`.execute(db);
  // The claims held when this runs (none, when the workers are stopped for the upgrade).
  await sql`
    INSERT INTO delivery_leases (claim_id, run_id, first_id, last_id, lease_until)
    SELECT claim_id, run_id, min(id), max(id), max(lease_until) FROM deliveries
    WHERE status = 'sending' GROUP BY claim_id, run_id`.execute(db);
  await sql`DROP INDEX deliveries_lease_idx`.execute(db);
  await sql`ALTER TABLE deliveries SET (fillfactor = 60)`.execute(db);

  await sql`
    ALTER TABLE deliveries ADD CONSTRAINT deliveries_claim_held_while_sending
      CHECK ((claim_id IS NOT NULL) = (status = 'sending'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE deliveries DROP CONSTRAINT deliveries_claim_held_while_sending`.execute(db);
  await sql`ALTER TABLE deliveries RESET (fillfactor)`.execute(db);
  await sql`CREATE INDEX deliveries_lease_idx ON deliveries (lease_until) WHERE status = 'sending'`.execute(db);
  await sql`DROP TABLE delivery_leases`.execute(db);
}
