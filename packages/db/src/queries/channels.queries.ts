import type { ChannelName } from '@herald/core';
import type { Db } from '../create-db';
import { toJson, type ChannelConnection, type ChannelConnectionRow } from '../schema';
import type { SecretKeyring } from '../secrets/secret-keyring';
import { openCredentials, sealCredentials } from '../secrets/stored-credentials';

export interface ChannelConnectionInput {
  botId: string;
  channel: ChannelName;
  provider: string;
  credentials: Record<string, string>;
  baseUrl: string | null;
  rateLimitPerSecond: number | null;
}

/** A row with its credentials opened (they are sealed at rest: `secrets`'s keys open them). */
export function openConnection(secrets: SecretKeyring, row: ChannelConnectionRow): ChannelConnection {
  return { ...row, credentials: openCredentials(secrets, row.credentials, { botId: row.bot_id, channel: row.channel }) };
}

/** PUT semantics: one connection per bot and channel, replaced whole; the credentials sealed under the current key. */
export async function upsertChannelConnection(db: Db, secrets: SecretKeyring, input: ChannelConnectionInput): Promise<ChannelConnection> {
  const values = {
    provider: input.provider,
    credentials: toJson(sealCredentials(secrets, input.credentials, { botId: input.botId, channel: input.channel })),
    base_url: input.baseUrl,
    rate_limit_per_second: input.rateLimitPerSecond,
    // Saving a connection again is how a fault (refused credentials) is cleared.
    fault_code: null,
    fault_message: null,
    fault_at: null,
  };
  const row = await db
    .insertInto('channel_connections')
    .values({ bot_id: input.botId, channel: input.channel, ...values })
    .onConflict((oc) => oc.columns(['bot_id', 'channel']).doUpdateSet({ ...values, updated_at: new Date() }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...row, credentials: { ...input.credentials } };
}

export async function listChannelConnections(db: Db, secrets: SecretKeyring, botId: string): Promise<ChannelConnection[]> {
  const rows = await db.selectFrom('channel_connections').selectAll().where('bot_id', '=', botId).orderBy('channel').execute();
  return rows.map((row) => openConnection(secrets, row));
}

/** A connection by id, with what verifying its providers' callbacks needs (the ingress caches it). */
export async function findChannelConnection(db: Db, secrets: SecretKeyring, id: string): Promise<ChannelConnection | undefined> {
  const row = await db.selectFrom('channel_connections').selectAll().where('id', '=', id).executeTakeFirst();
  return row && openConnection(secrets, row);
}

/**
 * The connection a shared webhook's event belongs to: one app (Meta) or one partner webhook
 * (RBM) calls a single URL for every number or agent it serves. Of the connections of the same
 * provider verified by the same secret as `connectionId` (the credential `secretName`), the
 * oldest whose credential `scopeName` is `scopeValue`, whatever its bot. The credentials are
 * sealed, so Postgres cannot compare them: the provider's connections are opened and compared
 * here (a few per provider account; the ingress caches the answer).
 */
export async function findSiblingConnectionId(
  db: Db,
  secrets: SecretKeyring,
  connectionId: string,
  scope: { secretName: string; scopeName: string; scopeValue: string },
): Promise<string | null> {
  const rows = await db
    .selectFrom('channel_connections')
    .selectAll()
    .where('provider', '=', (eb) => eb.selectFrom('channel_connections').select('provider').where('id', '=', connectionId))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const connections = rows.map((row) => openConnection(secrets, row));
  const secret = connections.find((c) => c.id === connectionId)?.credentials[scope.secretName];
  if (secret === undefined) return null;
  const sibling = connections.find((c) => c.credentials[scope.secretName] === secret && c.credentials[scope.scopeName] === scope.scopeValue);
  return sibling?.id ?? null;
}
