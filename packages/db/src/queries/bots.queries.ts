import type { Db } from '../create-db';
import { beforeKeyset, type NewestFirstPage } from './newest-first';
import type { Bot } from '../schema';

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
