import { sql, type Kysely } from 'kysely';

/**
 * A contact can be opted out (SPEC §4, issue 12): when and why. A contact is one user on one
 * channel of a bot, so this is the opt-out "on that channel". Deliveries to an opted-out
 * contact are skipped with reason `opted_out` when they are claimed, so a contact who opts
 * out in the middle of a run gets nothing more from it either. Two nullable columns without a
 * default: adding them rewrites nothing, however many contacts there are.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE contacts
      ADD COLUMN opted_out_at   timestamptz,
      ADD COLUMN opt_out_reason text CHECK (length(opt_out_reason) BETWEEN 1 AND 200)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE contacts DROP COLUMN opt_out_reason, DROP COLUMN opted_out_at`.execute(db);
}
