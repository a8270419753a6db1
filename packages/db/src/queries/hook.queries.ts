import { sql } from 'kysely';
import type { Db } from '../create-db';
import { toJson } from '../schema';

/** What the hook needs of a broadcast to run its checks, found by the hook token's digest. */
export interface HookBroadcast {
  id: string;
  bot_id: string;
  enabled: boolean;
  allowed_hosts: string[];
  allow_get: boolean;
  allow_post: boolean;
  direct_mode: boolean;
  require_valid_filter: boolean;
  delay_ms: number;
  max_delay_ms: number | null;
  bot_api_token_sha256: Buffer;
}

export async function findHookBroadcast(db: Db, tokenSha256: Buffer): Promise<HookBroadcast | undefined> {
  return db
    .selectFrom('broadcasts')
    .innerJoin('bots', 'bots.id', 'broadcasts.bot_id')
    .select([
      'broadcasts.id',
      'broadcasts.bot_id',
      'broadcasts.enabled',
      'broadcasts.allowed_hosts',
      'broadcasts.allow_get',
      'broadcasts.allow_post',
      'broadcasts.direct_mode',
      'broadcasts.require_valid_filter',
      'broadcasts.delay_ms',
      'broadcasts.max_delay_ms',
      'bots.api_token_sha256 as bot_api_token_sha256',
    ])
    .where('broadcasts.hook_token_sha256', '=', tokenSha256)
    .executeTakeFirst();
}

export interface AcceptedTrigger {
  id: string;
  received_at: Date;
  /** The oldest pending trigger of the broadcast, this one included (for max_delay_ms). */
  first_pending_at: Date;
}

/**
 * Records an accepted hook call. One statement: the oldest pending trigger is read in the same
 * round trip (the sub-select sees the table without the new row, hence `least`).
 */
export async function insertTrigger(
  db: Db,
  trigger: { broadcastId: string; callerAddress: string; method: 'GET' | 'POST'; request: unknown; notes: string[] },
): Promise<AcceptedTrigger> {
  return db
    .insertInto('triggers')
    .values({
      broadcast_id: trigger.broadcastId,
      caller_address: trigger.callerAddress,
      method: trigger.method,
      request: toJson(trigger.request),
      notes: toJson(trigger.notes),
    })
    .returning([
      'id',
      'received_at',
      sql<Date>`least(received_at, (
        SELECT min(t.received_at) FROM triggers t
        WHERE t.broadcast_id = ${trigger.broadcastId} AND t.status = 'pending'
      ))`.as('first_pending_at'),
    ])
    .executeTakeFirstOrThrow();
}
