import { sql } from 'kysely';
import type { Db } from '../create-db';

/**
 * The web chat outbox (SPEC §4): WebChannel deliveries land here, per contact, and a web chat
 * front end polls the admin API for a contact's messages since a cursor and marks them read.
 */

/** The web chat "send": the messages land in their contacts' outboxes, once per delivery. */
export async function addToWebOutbox(db: Db, messages: readonly { delivery_id: string; contact_id: string; text: string }[]): Promise<void> {
  if (messages.length === 0) return;
  await sql`
    INSERT INTO web_outbox (delivery_id, contact_id, text)
    SELECT m.delivery_id, m.contact_id, m.text
    FROM jsonb_to_recordset(${JSON.stringify(messages)}::jsonb) AS m(delivery_id bigint, contact_id bigint, text text)
    ON CONFLICT (delivery_id) DO NOTHING`.execute(db);
}

/** A contact's messages after `afterId`, oldest first (keyset on the (contact_id, id) index). */
export async function listWebOutbox(db: Db, contactId: string, page: { limit: number; afterId?: string; unreadOnly?: boolean }) {
  let query = db
    .selectFrom('web_outbox')
    .select(['id', 'delivery_id', 'text', 'created_at', 'read_at'])
    .where('contact_id', '=', contactId)
    .orderBy('id')
    .limit(page.limit);
  if (page.afterId) query = query.where('id', '>', page.afterId);
  if (page.unreadOnly) query = query.where('read_at', 'is', null);
  return query.execute();
}

/** Marks a contact's messages up to `throughId` read; returns how many were unread. */
export async function markWebOutboxRead(db: Db, contactId: string, throughId: string): Promise<number> {
  const result = await db
    .updateTable('web_outbox')
    .set({ read_at: new Date() })
    .where('contact_id', '=', contactId)
    .where('id', '<=', throughId)
    .where('read_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function findContactOfBot(db: Db, botId: string, contactId: string) {
  return db.selectFrom('contacts').select(['id', 'bot_channel']).where('bot_id', '=', botId).where('id', '=', contactId).executeTakeFirst();
}
