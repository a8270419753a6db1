import { sql, type Kysely } from 'kysely';

/**
 * The delivery stage (SPEC §4).
 * - A delivery is claimed before its send (`queued → sending`, with the claim's id and a lease)
 *   and made final after it. Only a claim still holding the row may finalise it, so a lease
 *   that expired and was taken over never lets two workers both record an outcome.
 * - A delivery waiting for a retry waits here (`queued`, `next_attempt_at`), not in a job.
 * - `reason` says why a delivery was skipped or failed, as a stable code (`cancelled`,
 *   `no_channel_connection`, `unreachable`, `empty_message`, `connection_unauthorized`,
 *   `provider_rejected`, `retries_exhausted`); `error_code` is the provider's own code.
 * - Runs keep a rate window, updated by the same statement that counts outcomes, so "current
 *   rate" costs no scan; `payload` is what `{{payload.…}}` renders (the run's last trigger's).
 * - A channel connection shows a fault (rejected credentials) until it is saved again.
 * - The web chat outbox: what the WebChannel "sends", served by the admin API.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check`.execute(db);
  await sql`
    ALTER TABLE deliveries
      ADD CONSTRAINT deliveries_status_check CHECK (status IN ('queued','sending','sent','failed','skipped')),
      ADD COLUMN reason          text,
      ADD COLUMN error_code      text,
      ADD COLUMN claim_id        uuid,
      ADD COLUMN lease_until     timestamptz,
      ADD COLUMN next_attempt_at timestamptz`.execute(db);
  // The reconciler's sweep of claims whose worker died: only rows being sent are indexed.
  await sql`CREATE INDEX deliveries_lease_idx ON deliveries (lease_until) WHERE status = 'sending'`.execute(db);

  await sql`
    ALTER TABLE runs
      ADD COLUMN payload          jsonb,
      ADD COLUMN rate_window_at   timestamptz,
      ADD COLUMN rate_window_done integer NOT NULL DEFAULT 0,
      ADD COLUMN rate_per_second  double precision`.execute(db);

  await sql`
    ALTER TABLE channel_connections
      ADD COLUMN fault_code    text,
      ADD COLUMN fault_message text,
      ADD COLUMN fault_at      timestamptz`.execute(db);

  await sql`
    CREATE TABLE web_outbox (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
      delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
      text        text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      read_at     timestamptz,
      -- A delivery lands in the outbox once, however often its send is repeated.
      CONSTRAINT web_outbox_delivery_key UNIQUE (delivery_id)
    )`.execute(db);
  // A web chat front end polls one contact's messages since a cursor.
  await sql`CREATE INDEX web_outbox_contact_idx ON web_outbox (contact_id, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE web_outbox`.execute(db);
  await sql`ALTER TABLE channel_connections DROP COLUMN fault_code, DROP COLUMN fault_message, DROP COLUMN fault_at`.execute(db);
  await sql`ALTER TABLE runs DROP COLUMN payload, DROP COLUMN rate_window_at, DROP COLUMN rate_window_done, DROP COLUMN rate_per_second`.execute(db);
  await sql`DROP INDEX deliveries_lease_idx`.execute(db);
  // Rows mid-send go back to the queue: the old schema has no `sending`.
  await sql`UPDATE deliveries SET status = 'queued' WHERE status = 'sending'`.execute(db);
  await sql`
    ALTER TABLE deliveries
      DROP CONSTRAINT deliveries_status_check,
      DROP COLUMN reason, DROP COLUMN error_code, DROP COLUMN claim_id, DROP COLUMN lease_until, DROP COLUMN next_attempt_at`.execute(db);
  await sql`ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN ('queued','sent','failed','skipped'))`.execute(db);
}
