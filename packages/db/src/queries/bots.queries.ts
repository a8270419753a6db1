import { sql } from 'kysely';
import type { Db } from '../create-db';
import { beforeKeyset, type NewestFirstPage } from './newest-first';
import type { Bot, Run } from '../schema';

export type BotRecord = Omit<Bot, 'api_token_sha256'>;

export async function insertBot(db: Db, bot: { name: string; apiTokenSha256: Buffer }): Promise<BotRecord> {
  return db
    .insertInto('bots')
    .values({ name: bot.name, api_token_sha256: bot.apiTokenSha256 })
    .returning(['id', 'name', 'created_at', 'updated_at'])
    .executeTakeFirstOrThrow();
}

/** Newest first; the cursor is the last bot's (created_at, id). */
export async function listBots(db: Db, page: NewestFirstPage): Promise<BotRecord[]> {
  let query = db.selectFrom('bots').select(['id', 'name', 'created_at', 'updated_at']).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit);
  if (page.before) query = query.where(beforeKeyset(page.before));
  return query.execute();
}

export async function findBot(db: Db, id: string): Promise<BotRecord | undefined> {
  return db.selectFrom('bots').select(['id', 'name', 'created_at', 'updated_at']).where('id', '=', id).executeTakeFirst();
}

/**
 * A new API token for the bot: its digest replaces the old one, which stops matching at once
 * (the ingress caches a hook's bot digest for up to a second). Undefined for an unknown bot.
 */
export async function rotateBotToken(db: Db, id: string, apiTokenSha256: Buffer): Promise<BotRecord | undefined> {
  return db
    .updateTable('bots')
    .set({ api_token_sha256: apiTokenSha256, updated_at: new Date() })
    .where('id', '=', id)
    .returning(['id', 'name', 'created_at', 'updated_at'])
    .executeTakeFirst();
}

/**
 * Revokes the bot's API token: no token is accepted until the next rotation. The stored
 * "digest" becomes `revoked:` and the bot's 16 uuid bytes: 24 bytes, which no SHA-256 digest
 * (32 bytes) can equal, unique per bot as the column requires, and still NOT NULL, so every
 * reader of the column keeps working unchanged. False for an unknown bot.
 */
export async function revokeBotToken(db: Db, id: string): Promise<boolean> {
  const result = await db
    .updateTable('bots')
    .set({ api_token_sha256: sql<Buffer>`${REVOKED_MARK}::bytea || uuid_send(id)`, updated_at: new Date() })
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

const REVOKED_MARK = Buffer.from('revoked:', 'utf8');

/** Whether a stored token digest is the mark of a revoked token rather than a digest. */
export function isRevokedTokenDigest(stored: Buffer): boolean {
  return stored.length === REVOKED_MARK.length + 16 && stored.subarray(0, REVOKED_MARK.length).equals(REVOKED_MARK);
}

/** A run that keeps its bot from being deleted. */
export type RunInProgress = Pick<Run, 'id' | 'broadcast_id' | 'status'>;

export type BotDeletion = { outcome: 'deleted' | 'not_found' } | { outcome: 'run_in_progress'; runs: RunInProgress[] };

/**
 * Deletes a bot and everything of it, in one transaction: channel connections, contacts,
 * broadcasts with their triggers, idempotency keys, runs and deliveries (and the deliveries'
 * web outbox messages), and, by connection id (they have no foreign key), its provider message
 * ids, parked receipts and any delivery lease left by its runs.
 *
 * Refused while a run of the bot is in progress. Its broadcasts are locked first (FOR UPDATE,
 * the lock claimRun takes), so no run starts between the check and the delete.
 *
 * Children go first, each step through an index (migration 2026-11-27T0400 added the two the
 * cascades lacked), so the cost is linear in what the bot has: 2.3 s for 100,000 contacts,
 * deliveries and triggers, 20 s for a million contacts and deliveries. Meanwhile only the bot's
 * own rows are locked; hook calls to its broadcasts (and calls sharing their batch INSERT)
 * wait for the commit, and then answer 404.
 */
export async function deleteBot(db: Db, id: string): Promise<BotDeletion> {
  return db.transaction().execute(async (trx) => {
    const bot = await trx.selectFrom('bots').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
    if (!bot) return { outcome: 'not_found' };
    const broadcasts = await trx.selectFrom('broadcasts').select('id').where('bot_id', '=', id).orderBy('id').forUpdate().execute();
    const broadcastIds = broadcasts.map((b) => b.id);
    if (broadcastIds.length) {
      const running = await trx
        .selectFrom('runs')
        .select(['id', 'broadcast_id', 'status'])
        .where('broadcast_id', 'in', broadcastIds)
        .where('status', 'in', ['dispatching', 'delivering'])
        .orderBy('created_at')
        .execute();
      if (running.length) return { outcome: 'run_in_progress', runs: running };
    }
    const connections = trx.selectFrom('channel_connections').select('id').where('bot_id', '=', id);
    await trx.deleteFrom('provider_messages').where('connection_id', 'in', connections).execute();
    await trx.deleteFrom('pending_receipts').where('connection_id', 'in', connections).execute();
    if (broadcastIds.length) {
      const runs = trx.selectFrom('runs').select('id').where('broadcast_id', 'in', broadcastIds);
      await trx.deleteFrom('delivery_leases').where('run_id', 'in', runs).execute();
      // Through deliveries_run_id_idx; their web outbox messages follow (by delivery_id).
      await trx.deleteFrom('deliveries').where('run_id', 'in', runs).execute();
      // Runs, triggers and idempotency keys follow (through broadcast_id; keys also through trigger_id).
      await trx.deleteFrom('broadcasts').where('bot_id', '=', id).execute();
    }
    // Each contact's cascade looks its deliveries up through deliveries_contact_idx (none are
    // left: the bot's deliveries are its runs'), its outbox through web_outbox_contact_idx.
    await trx.deleteFrom('contacts').where('bot_id', '=', id).execute();
    await trx.deleteFrom('bots').where('id', '=', id).execute(); // and its channel connections
    return { outcome: 'deleted' };
  });
}
