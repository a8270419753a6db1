import { sql, type RawBuilder } from 'kysely';
import type { TriggerRequest } from '@herald/core';
import { prepared, type Db } from '../create-db';
import { toJson, type Broadcast } from '../schema';
import { dispatchingBoundary } from './dispatch.queries';

/** What the hook needs of a broadcast to run its checks, found by the hook token's digest. */
export type HookBroadcast = Pick<
  Broadcast,
  'id' | 'bot_id' | 'enabled' | 'allowed_hosts' | 'allow_get' | 'allow_post' | 'direct_mode' | 'require_valid_filter' | 'delay_ms' | 'max_delay_ms'
> & { bot_api_token_sha256: Buffer };

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
  /** The oldest pending trigger of the broadcast, this one included; only when asked for. */
  first_pending_at: Date | null;
}

/**
 * Records an accepted hook call in one statement. With `withFirstPending` (broadcasts that
 * have a max_delay_ms) it also reads, in the same round trip, when the oldest pending trigger
 * arrived: the first by seq, one step down triggers_pending_idx. The sub-select sees the table
 * without the new row, hence `least`. Without it the statement stays a bare INSERT: the hot path.
 */
export async function insertTrigger(
  db: Db,
  trigger: { broadcastId: string; callerAddress: string | null; method: 'GET' | 'POST'; request: TriggerRequest; notes: string[] },
  withFirstPending = false,
): Promise<AcceptedTrigger> {
  const firstPending: RawBuilder<Date | null> = withFirstPending
    ? sql<Date>`least(received_at, (
        SELECT t.received_at FROM triggers t
        WHERE t.broadcast_id = ${trigger.broadcastId} AND t.status = 'pending'
          AND t.seq > ${dispatchingBoundary(trigger.broadcastId)}
        ORDER BY t.seq LIMIT 1
      ))`
    : sql<null>`NULL::timestamptz`;
  return db
    .insertInto('triggers')
    .values({
      broadcast_id: trigger.broadcastId,
      caller_address: trigger.callerAddress,
      method: trigger.method,
      request: toJson(trigger.request),
      notes: toJson(trigger.notes),
    })
    .returning(['id', 'received_at', firstPending.as('first_pending_at')])
    .executeTakeFirstOrThrow();
}

export interface NewTriggerRow {
  /** Made by the caller (randomUUID) so each row of a batch finds its answer by id. */
  id: string;
  broadcastId: string;
  callerAddress: string | null;
  method: 'GET' | 'POST';
  request: TriggerRequest;
  notes: string[];
}

/**
 * Records many accepted hook calls in one INSERT (one round trip, one commit). They share
 * `received_at` (the transaction's time); `seq` keeps their order. Returns received_at by id.
 * The rows travel as one JSON parameter, so the statement's text is the same whatever the
 * batch's size and is planned once per connection (prepared).
 */
export async function insertTriggers(db: Db, rows: readonly NewTriggerRow[]): Promise<Map<string, Date>> {
  if (rows.length === 0) return new Map();
  const input = rows.map((row) => ({
    id: row.id,
    broadcast_id: row.broadcastId,
    caller_address: row.callerAddress,
    method: row.method,
    request: row.request,
    notes: row.notes,
  }));
  const { rows: inserted } = await sql<{ id: string; received_at: Date }>`${prepared('insert_triggers')}
    INSERT INTO triggers (id, broadcast_id, caller_address, method, request, notes)
    SELECT r.id, r.broadcast_id, r.caller_address, r.method, r.request, r.notes
    FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
      AS r(id uuid, broadcast_id uuid, caller_address inet, method text, request jsonb, notes jsonb)
    RETURNING id, received_at`.execute(db);
  return new Map(inserted.map((row) => [row.id, row.received_at]));
}
