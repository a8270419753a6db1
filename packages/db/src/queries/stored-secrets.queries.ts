import { sql } from 'kysely';
import type { Db } from '../create-db';
import { SecretKeyError, type SecretKeyring } from '../secrets/secret-keyring';
import { openCredentials, sealCredentials } from '../secrets/stored-credentials';

/** A connection whose credentials this keyring cannot open (a key it lacks, or a changed value). */
export interface UnreadableCredentials {
  connectionId: string;
  kid: string;
  reason: string;
}

export interface ResealedBatch {
  /** Connections now sealed under the current key. */
  resealed: number;
  unreadable: UnreadableCredentials[];
  /** The last id looked at: the next batch starts after it. Null when none was left. */
  lastId: string | null;
}

/**
 * One batch of `secrets rotate`, in the caller's transaction: up to `limit` connections after
 * `afterId` (in id order) whose credentials are plain or sealed under another key, opened and
 * sealed again under the current key in one statement. Locked FOR UPDATE so a concurrent save
 * cannot be overwritten with older credentials; SKIP LOCKED leaves a row being saved right now
 * to that save, which seals it under the current key itself. A row the keyring cannot open is
 * reported and left as it is (walking on by id keeps it from stopping the rest).
 */
export async function resealCredentialsBatch(
  db: Db,
  secrets: SecretKeyring,
  { afterId, limit }: { afterId: string | null; limit: number },
): Promise<ResealedBatch> {
  if (!secrets.currentKeyId) throw new Error('re-sealing needs a current key (HERALD_SECRET_KEY)');
  const current = JSON.stringify({ v: 1, kid: secrets.currentKeyId });
  const { rows } = await sql<{ id: string; bot_id: string; channel: string; credentials: unknown }>`
    SELECT id, bot_id, channel, credentials FROM channel_connections
    WHERE NOT (credentials @> ${current}::jsonb) AND (${afterId}::uuid IS NULL OR id > ${afterId}::uuid)
    ORDER BY id
    LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`.execute(db);
  const ids: string[] = [];
  const sealed: string[] = [];
  const unreadable: UnreadableCredentials[] = [];
  for (const row of rows) {
    const owner = { botId: row.bot_id, channel: row.channel };
    let credentials: Record<string, string>;
    try {
      credentials = openCredentials(secrets, row.credentials, owner);
    } catch (error) {
      if (!(error instanceof SecretKeyError)) throw error;
      unreadable.push({ connectionId: row.id, kid: error.kid, reason: error.message });
      continue;
    }
    ids.push(row.id);
    sealed.push(JSON.stringify(sealCredentials(secrets, credentials, owner)));
  }
  if (ids.length) {
    await sql`
      UPDATE channel_connections c SET credentials = v.credentials::jsonb
      FROM unnest(${ids}::uuid[], ${sealed}::text[]) AS v(id, credentials)
      WHERE c.id = v.id`.execute(db);
  }
  return { resealed: ids.length, unreadable, lastId: rows.at(-1)?.id ?? null };
}

/** How many connections' credentials are sealed under each key; `kid` null: stored plain. */
export async function credentialsByKey(db: Db): Promise<Array<{ kid: string | null; connections: number }>> {
  const { rows } = await sql<{ kid: string | null; connections: number }>`
    SELECT CASE WHEN jsonb_typeof(credentials -> 'v') = 'number' THEN credentials ->> 'kid' END AS kid, count(*)::int AS connections
    FROM channel_connections
    GROUP BY 1
    ORDER BY 1 NULLS FIRST`.execute(db);
  return rows;
}
