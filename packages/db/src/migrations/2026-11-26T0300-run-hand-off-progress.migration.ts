import { sql, type Kysely } from 'kysely';

/**
 * Hand-off progress of a run: its deliveries go to the channel queues in chunks, walking the
 * run's delivery ids upwards. `handed_off_through` is the last id handed off, so a dispatch
 * resumed after a crash carries on from there instead of starting over; `handed_off` counts
 * the deliveries handed off, so a long hand-off shows its progress.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE runs
      ADD COLUMN handed_off_through bigint NOT NULL DEFAULT 0,
      ADD COLUMN handed_off integer NOT NULL DEFAULT 0 CHECK (handed_off >= 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE runs DROP COLUMN handed_off_through, DROP COLUMN handed_off`.execute(db);
}
