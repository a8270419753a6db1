import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../create-db';
import type { Contact } from '../schema';

export type ContactUpsert = Pick<
  Contact,
  'bot_channel' | 'user_id' | 'user_phone_number' | 'first_name' | 'last_name' | 'user_name' | 'locale' | 'variables'
>;

/**
 * The upsert of many contacts of a bot as one statement (set-based: the rows travel as one
 * JSON parameter), `RETURNING id, bot_channel, inserted`, to be used alone or inside a CTE.
 * Given fields overwrite, missing ones are kept, variables are merged. The caller removes
 * duplicates first: one statement cannot update a row twice.
 */
export function contactUpsertStatement(botId: string, contacts: readonly ContactUpsert[]): RawBuilder<unknown> {
  return sql`
    INSERT INTO contacts (bot_id, bot_channel, user_id, user_phone_number, first_name, last_name, user_name, locale, variables)
    SELECT ${botId}::uuid, c.bot_channel, c.user_id, c.user_phone_number, c.first_name, c.last_name, c.user_name, c.locale,
           coalesce(c.variables, '{}'::jsonb)
    FROM jsonb_to_recordset(${JSON.stringify(contacts)}::jsonb) AS c(
      bot_channel text, user_id text, user_phone_number text, first_name text, last_name text,
      user_name text, locale text, variables jsonb)
    ON CONFLICT (bot_id, bot_channel, user_id) DO UPDATE SET
      user_phone_number = coalesce(EXCLUDED.user_phone_number, contacts.user_phone_number),
      first_name        = coalesce(EXCLUDED.first_name, contacts.first_name),
      last_name         = coalesce(EXCLUDED.last_name, contacts.last_name),
      user_name         = coalesce(EXCLUDED.user_name, contacts.user_name),
      locale            = coalesce(EXCLUDED.locale, contacts.locale),
      variables         = contacts.variables || EXCLUDED.variables,
      updated_at        = now()
    RETURNING id, bot_channel, (xmax = 0) AS inserted`;
}

/** Creates or updates many contacts of a bot in one statement; counts what it did. */
export async function upsertContacts(db: Db, botId: string, contacts: readonly ContactUpsert[]): Promise<{ created: number; updated: number }> {
  if (contacts.length === 0) return { created: 0, updated: 0 };
  const { rows } = await sql<{ created: string; updated: string }>`
    WITH upserted AS (${contactUpsertStatement(botId, contacts)})
    SELECT count(*) FILTER (WHERE inserted) AS created, count(*) FILTER (WHERE NOT inserted) AS updated FROM upserted
  `.execute(db);
  const row = rows[0]!;
  return { created: Number(row.created), updated: Number(row.updated) };
}

/** A page of a bot's contacts in id order; `afterId` is the cursor. */
export async function listContacts(
  db: Db,
  botId: string,
  page: { limit: number; afterId?: string; channel?: Contact['bot_channel']; userId?: string },
): Promise<Contact[]> {
  let query = db.selectFrom('contacts').selectAll().where('bot_id', '=', botId).orderBy('id').limit(page.limit);
  if (page.afterId) query = query.where('id', '>', page.afterId);
  if (page.channel) query = query.where('bot_channel', '=', page.channel);
  if (page.userId) query = query.where('user_id', '=', page.userId);
  return query.execute();
}
