import { sql, type Kysely } from 'kysely';

/**
 * Delivery receipts (issue 12): what providers report after they accepted a message.
 * - A delivery keeps the earliest `delivered_at`, `read_at` and `failed_at` reported for it;
 *   the status follows from them (SPEC §4: a delivered message is `sent`, a failure reported
 *   without a delivery makes it `failed`), so receipts merge in any order.
 * - Runs count `delivered` and `read` beside sent, failed and skipped.
 * - `provider_messages` maps a provider's message id, per channel connection, to the delivery.
 *   A table and not an index on `deliveries.provider_message_id`: an index naming a column the
 *   outcome statement sets would make every outcome a non-HOT update (see migration 0500), and
 *   a delivery sent twice (a worker died after the provider accepted it) has two ids.
 * - `pending_receipts` holds receipts that arrived before the send they report was recorded
 *   (a provider can call back within milliseconds); the worker's reconciler applies them
 *   once the send is recorded, and drops those still unmatched after an hour.
 * - A contact keeps the time of the last opt-out or opt-in applied to it (`opt_out_signal_at`,
 *   the signal's own time): providers retry for hours, and a late older signal (a START sent
 *   before the STOP) must not undo a newer one.
 * The new columns have no default: adding them rewrites nothing, however many rows there are.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE deliveries
      ADD COLUMN delivered_at timestamptz,
      ADD COLUMN read_at      timestamptz,
      ADD COLUMN failed_at    timestamptz`.execute(db);
  await sql`
    ALTER TABLE runs
      ADD COLUMN delivered integer NOT NULL DEFAULT 0 CHECK (delivered >= 0),
      ADD COLUMN read      integer NOT NULL DEFAULT 0 CHECK (read >= 0)`.execute(db);
  await sql`ALTER TABLE contacts ADD COLUMN opt_out_signal_at timestamptz`.execute(db);
  await sql`
    CREATE TABLE provider_messages (
      connection_id       uuid NOT NULL,
      provider_message_id text NOT NULL,
      delivery_id         bigint NOT NULL,
      created_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, provider_message_id)
    )`.execute(db);
  await sql`
    CREATE TABLE pending_receipts (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      connection_id uuid NOT NULL,
      -- What the receipt names: the provider's message id, or (custom channel) Herald's delivery id.
      provider_message_id text,
      delivery_id   bigint,
      delivered_at  timestamptz,
      read_at       timestamptz,
      failed_at     timestamptz,
      error_code    text,
      error_message text,
      -- The failure also says the person opted out (WhatsApp 131050, Twilio 21610): why.
      opt_out_reason text,
      received_at   timestamptz NOT NULL DEFAULT now(),
      CHECK ((provider_message_id IS NULL) <> (delivery_id IS NULL))
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE pending_receipts`.execute(db);
  await sql`DROP TABLE provider_messages`.execute(db);
  await sql`ALTER TABLE contacts DROP COLUMN opt_out_signal_at`.execute(db);
  await sql`ALTER TABLE runs DROP COLUMN read, DROP COLUMN delivered`.execute(db);
  await sql`ALTER TABLE deliveries DROP COLUMN failed_at, DROP COLUMN read_at, DROP COLUMN delivered_at`.execute(db);
}
