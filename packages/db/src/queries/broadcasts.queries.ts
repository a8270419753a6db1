import type { Db } from '../create-db';
import { beforeKeyset, type NewestFirstPage } from './newest-first';
import { toJson, type Broadcast } from '../schema';

/** The columns an admin sets (everything but ids, tokens and timestamps). */
export interface BroadcastSettings {
  name: string;
  enabled: boolean;
  audience: unknown;
  message: unknown;
  allowed_hosts: string[];
  allow_get: boolean;
  allow_post: boolean;
  direct_mode: boolean;
  require_valid_filter: boolean;
  delay_ms: number;
  max_delay_ms: number | null;
}

function columns(settings: Partial<BroadcastSettings>) {
  const { audience, message, ...rest } = settings;
  return {
    ...rest,
    ...(audience !== undefined ? { audience: toJson(audience) } : {}),
    ...(message !== undefined ? { message: toJson(message) } : {}),
  };
}

/** What is kept of a hook token: its digest (looked up by the ingress) and a hint; never the token. */
export interface StoredHookToken {
  sha256: Buffer;
  /** The token's last 4 characters (core's hookTokenHint). */
  hint: string;
}

export async function insertBroadcast(db: Db, botId: string, settings: BroadcastSettings, hookToken: StoredHookToken): Promise<Broadcast> {
  return db
    .insertInto('broadcasts')
    .values({
      bot_id: botId,
      ...settings,
      audience: toJson(settings.audience),
      message: toJson(settings.message),
      hook_token_sha256: hookToken.sha256,
      hook_token_hint: hookToken.hint,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A bot's broadcasts, newest first; the cursor is the last one's (created_at, id). */
export async function listBroadcasts(db: Db, botId: string, page: NewestFirstPage): Promise<Broadcast[]> {
  let query = db.selectFrom('broadcasts').selectAll().where('bot_id', '=', botId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit);
  if (page.before) query = query.where(beforeKeyset(page.before));
  return query.execute();
}

export async function findBroadcast(db: Db, id: string): Promise<Broadcast | undefined> {
  return db.selectFrom('broadcasts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateBroadcast(db: Db, id: string, settings: Partial<BroadcastSettings>): Promise<Broadcast | undefined> {
  return db
    .updateTable('broadcasts')
    .set({ ...columns(settings), updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function rotateHookToken(db: Db, id: string, hookToken: StoredHookToken): Promise<Broadcast | undefined> {
  const now = new Date();
  return db
    .updateTable('broadcasts')
    .set({ hook_token_sha256: hookToken.sha256, hook_token_hint: hookToken.hint, hook_rotated_at: now, updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes the broadcast with its triggers, runs and deliveries. A timer still armed for it
 *  fires into nothing: the dispatcher finds no broadcast and stops. */
export async function deleteBroadcast(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('broadcasts').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
