import { sql, type Kysely } from 'kysely';

/**
 * A delivery holds a claim exactly while it is being sent: `claim_id` is set with
 * `status = 'sending'` and cleared by every statement that moves it on. The outcome statement
 * finds its rows by `(id, claim_id)` alone and relies on this to know they are still `sending`
 * (see finishDeliveries). Added NOT VALID and validated after, so a large table is not locked
 * against writes while the existing rows are checked.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE deliveries ADD CONSTRAINT deliveries_claim_held_while_sending
      CHECK ((claim_id IS NOT NULL) = (status = 'sending')) NOT VALID`.execute(db);
  await sql`ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_claim_held_while_sending`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE deliveries DROP CONSTRAINT deliveries_claim_held_while_sending`.execute(db);
}
