import { sql } from 'kysely';
import type { Db } from '../create-db';
import { toJson } from '../schema';

/** How long an Idempotency-Key replays its first answer (SPEC §3). */
export const IDEMPOTENCY_WINDOW = '24 hours';

/** The first answer given under this key, if it is younger than the window. */
export async function findIdempotentResponse(db: Db, broadcastId: string, key: string): Promise<unknown | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select('response')
    .where('broadcast_id', '=', broadcastId)
    .where('key', '=', key)
    .where('created_at', '>', sql<Date>`now() - ${IDEMPOTENCY_WINDOW}::interval`)
    .executeTakeFirst();
  return row?.response;
}

/**
 * Claims the key for a new trigger. Returns false when another call holds it within the
 * window (a concurrent retry won the race): the caller then rolls back and replays that
 * call's answer. An expired key is taken over.
 */
export async function claimIdempotencyKey(db: Db, claim: { broadcastId: string; key: string; triggerId: string; response: unknown }): Promise<boolean> {
  const row = await db
    .insertInto('idempotency_keys')
    .values({ broadcast_id: claim.broadcastId, key: claim.key, trigger_id: claim.triggerId, response: toJson(claim.response) })
    .onConflict((oc) =>
      oc
        .columns(['broadcast_id', 'key'])
        .doUpdateSet({ trigger_id: claim.triggerId, response: toJson(claim.response), created_at: sql<Date>`now()` })
        .where('idempotency_keys.created_at', '<=', sql<Date>`now() - ${IDEMPOTENCY_WINDOW}::interval`),
    )
    .returning('trigger_id')
    .executeTakeFirst();
  return row !== undefined;
}
