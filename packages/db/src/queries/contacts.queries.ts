import { sql, type RawBuilder } from 'kysely';
import type { WritableColumn } from '@herald/core';
import { prepared, type Db } from '../create-db';
import type { Contact } from '../schema';

export type ContactUpsert = Pick<Contact, 'bot_channel' | 'user_id' | 'user_phone_number' | 'first_name' | 'last_name' | 'user_name' | 'locale' | 'variables'>;

/**
 * Two upserts of one contact as one, `later` applied after `earlier`, as the upsert statement
 * would: a column the later one gives wins (a null leaves the earlier value), variables merge.
 */
export function mergeContacts(earlier: ContactUpsert, later: ContactUpsert): ContactUpsert {
  return {
    ...earlier,
    user_phone_number: later.user_phone_number ?? earlier.user_phone_number,
    first_name: later.first_name ?? earlier.first_name,
    last_name: later.last_name ?? earlier.last_name,
    user_name: later.user_name ?? earlier.user_name,
    locale: later.locale ?? earlier.locale,
    variables: { ...earlier.variables, ...later.variables },
  };
}

/** A contact's upsert row from its identity and the writes of a call (columns not written: null, i.e. kept). */
export function contactRow(
  identity: Pick<ContactUpsert, 'bot_channel' | 'user_id' | 'user_phone_number'>,
  writes: { columns: Partial<Record<WritableColumn, string | null>>; variables: ContactUpsert['variables'] },
): ContactUpsert {
  return {
    ...identity,
    first_name: writes.columns.first_name ?? null,
    last_name: writes.columns.last_name ?? null,
    user_name: writes.columns.user_name ?? null,
    locale: writes.columns.locale ?? null,
    variables: writes.variables,
  };
}

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
  page: { limit: number; afterId?: string; channel?: Contact['bot_channel']; userId?: string; optedOut?: boolean },
): Promise<Contact[]> {
  let query = db.selectFrom('contacts').selectAll().where('bot_id', '=', botId).orderBy('id').limit(page.limit);
  if (page.afterId) query = query.where('id', '>', page.afterId);
  if (page.channel) query = query.where('bot_channel', '=', page.channel);
  if (page.userId) query = query.where('user_id', '=', page.userId);
  if (page.optedOut !== undefined) query = query.where('opted_out_at', page.optedOut ? 'is not' : 'is', null);
  return query.execute();
}

/**
 * Opts a contact of `botId` out (with `reason`), or back in (`reason` null). An opt-out already
 * in place keeps its first time and reason. Undefined when the bot has no such contact.
 */
export async function setContactOptOut(db: Db, botId: string, contactId: string, reason: string | null): Promise<Contact | undefined> {
  return db
    .updateTable('contacts')
    .set(
      reason === null
        ? { opted_out_at: null, opt_out_reason: null, opt_out_signal_at: sql<Date>`now()` }
        : (eb) => ({
            opted_out_at: eb.fn.coalesce('opted_out_at', sql<Date>`now()`),
            opt_out_reason: eb.fn.coalesce('opt_out_reason', eb.val(reason)),
            opt_out_signal_at: sql<Date>`now()`,
          }),
    )
    .where('bot_id', '=', botId)
    .where('id', '=', contactId)
    .returningAll()
    .executeTakeFirst();
}

/** Variables a call would merge into one contact, named by its identity. */
export interface VariableWrite {
  botId: string;
  botChannel: Contact['bot_channel'];
  userId: string;
  variables: Contact['variables'];
}

/**
 * Which of `writes` (by index) would take their contact past the bound on its variables
 * (at most `bound.count` of them and `bound.bytes` as stored jsonb: the constraint
 * contacts_variables_bounded, migration 0600), merged into what the contact holds now, or
 * into nothing for a contact not yet there. One statement for the lot, one index step each.
 * Measured as the constraint measures: pg_column_size of the merged jsonb, the keys counted
 * only from 8 bytes a key on (each key takes two 4-byte entries at least: below that the
 * count cannot be past the bound).
 */
export async function writesPastVariableBound(db: Db, writes: readonly VariableWrite[], bound: { count: number; bytes: number }): Promise<Set<number>> {
  if (writes.length === 0) return new Set();
  const rows = writes.map((w, i) => ({ i, bot_id: w.botId, bot_channel: w.botChannel, user_id: w.userId, variables: w.variables }));
  const { rows: past } = await sql<{ i: number }>`${prepared('variable_bound')}
    SELECT w.i
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS w(i int, bot_id uuid, bot_channel text, user_id text, variables jsonb)
    LEFT JOIN contacts c ON c.bot_id = w.bot_id AND c.bot_channel = w.bot_channel AND c.user_id = w.user_id
    CROSS JOIN LATERAL (SELECT coalesce(c.variables, '{}'::jsonb) || w.variables AS merged) m
    WHERE pg_column_size(m.merged) > ${bound.bytes}
       OR (pg_column_size(m.merged) >= ${bound.count * 8} AND herald_variable_count(m.merged) > ${bound.count})`.execute(db);
  return new Set(past.map((row) => row.i));
}
