import { sql } from 'kysely';
import type { ChannelName } from '@herald/core';
import type { Db } from '../create-db';
import { toJson, type ChannelConnection } from '../schema';

export interface ChannelConnectionInput {
  botId: string;
  channel: ChannelName;
  provider: string;
  credentials: Record<string, string>;
  baseUrl: string | null;
  rateLimitPerSecond: number | null;
}

/** PUT semantics: one connection per bot and channel, replaced whole. */
export async function upsertChannelConnection(db: Db, input: ChannelConnectionInput): Promise<ChannelConnection> {
  const values = {
    provider: input.provider,
    credentials: toJson(input.credentials),
    base_url: input.baseUrl,
    rate_limit_per_second: input.rateLimitPerSecond,
    // Saving a connection again is how a fault (refused credentials) is cleared.
    fault_code: null,
    fault_message: null,
    fault_at: null,
  };
  return db
    .insertInto('channel_connections')
    .values({ bot_id: input.botId, channel: input.channel, ...values })
    .onConflict((oc) => oc.columns(['bot_id', 'channel']).doUpdateSet({ ...values, updated_at: new Date() }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listChannelConnections(db: Db, botId: string): Promise<ChannelConnection[]> {
  return db.selectFrom('channel_connections').selectAll().where('bot_id', '=', botId).orderBy('channel').execute();
}

/** A connection by id, with what verifying its providers' callbacks needs (the ingress caches it). */
export async function findChannelConnection(db: Db, id: string): Promise<ChannelConnection | undefined> {
  return db.selectFrom('channel_connections').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The connection a shared webhook's event belongs to: one app (Meta) or one partner webhook
 * (RBM) calls a single URL for every number or agent it serves. Of the connections of the same
 * provider verified by the same secret as `connectionId` (the credential `secretName`), the one
 * whose credential `scopeName` is `scopeValue`. The secret is compared inside Postgres: it
 * never travels. Credential names are the callers' constants; every value is a bound parameter.
 */
export async function findSiblingConnectionId(
  db: Db,
  connectionId: string,
  scope: { secretName: string; scopeName: string; scopeValue: string },
): Promise<string | null> {
  const { rows } = await sql<{ id: string }>`
    SELECT s.id FROM channel_connections c
    JOIN channel_connections s ON s.provider = c.provider
     AND s.credentials ->> ${scope.secretName} = c.credentials ->> ${scope.secretName}
     AND s.credentials ->> ${scope.scopeName} = ${scope.scopeValue}
    WHERE c.id = ${connectionId} AND c.credentials ->> ${scope.secretName} IS NOT NULL
    ORDER BY s.created_at
    LIMIT 1`.execute(db);
  return rows[0]?.id ?? null;
}
