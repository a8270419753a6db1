import { randomBytes } from 'node:crypto';
import type { ChannelName } from '@herald/core';
import { createBotRow, useTestDatabase } from '@herald/testing';
import type { Db } from '../create-db';
import { credentialsByKey } from '../queries/stored-secrets.queries';
import { findChannelConnection, findSiblingConnectionId, listChannelConnections, upsertChannelConnection } from '../queries/channels.queries';
import { rotateStoredCredentials } from './rotate-credentials';
import { SecretKeyError, SecretKeyring, secretKeyId } from './secret-keyring';

/**
 * `secrets rotate` against real Postgres: connections stored plain (before HERALD_SECRET_KEY),
 * under a previous key and under the current one, all end under the current key, in batches;
 * a connection under a key nobody configured is reported and left as it is.
 */
describe('rotating stored channel credentials', () => {
  const database = useTestDatabase();
  const db = (): Db => database.current.db;
  const [oldKey, newKey, lostKey] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const CHANNELS: ChannelName[] = ['SMSChannel', 'TelegramChannel', 'CustomChannel', 'WhatsAppChannel'];

  /** A bot with one connection per keyring given, each with credentials of its own. */
  async function connections(...keyrings: SecretKeyring[]) {
    const bot = await createBotRow(db());
    const made = [];
    for (const [i, keyring] of keyrings.entries()) {
      const credentials = { token: `secret-${i}-${randomBytes(8).toString('hex')}`, id: `id-${i}` };
      const connection = await upsertChannelConnection(db(), keyring, {
        botId: bot.id,
        channel: CHANNELS[i]!,
        provider: 'custom',
        credentials,
        baseUrl: 'https://example.com/in',
        rateLimitPerSecond: null,
      });
      made.push({ id: connection.id, credentials });
    }
    return { bot, made };
  }

  async function storedText(id: string): Promise<string> {
    const row = await db().selectFrom('channel_connections').select('credentials').where('id', '=', id).executeTakeFirstOrThrow();
    return JSON.stringify(row.credentials);
  }

  it('seals plain and previous-key credentials under the current key, in batches, and is a no-op the second time', async () => {
    const plain = SecretKeyring.none();
    const before = SecretKeyring.of(oldKey);
    const now = SecretKeyring.of(newKey, [oldKey]);
    const { bot, made } = await connections(plain, before, now, plain);
    expect(await storedText(made[0]!.id)).toContain(made[0]!.credentials.token); // plain, as without a key

    const batches: number[] = [];
    const rotation = await rotateStoredCredentials(db(), now, { batchSize: 1, onBatch: (n) => batches.push(n) });
    expect(rotation).toEqual({ resealed: 3, unreadable: [] });
    expect(batches).toEqual([1, 1, 1]);
    expect(await credentialsByKey(db())).toEqual([{ kid: secretKeyId(newKey), connections: 4 }]);
    for (const { id, credentials } of made) {
      expect(await storedText(id)).not.toContain(credentials.token);
      // Under the current key alone: the old one is no longer needed.
      expect((await findChannelConnection(db(), SecretKeyring.of(newKey), id))?.credentials).toEqual(credentials);
    }
    expect((await listChannelConnections(db(), SecretKeyring.of(newKey), bot.id)).map((c) => c.credentials.token).sort()).toEqual(
      made.map((m) => m.credentials.token).sort(),
    );

    expect(await rotateStoredCredentials(db(), now)).toEqual({ resealed: 0, unreadable: [] });
  });

  it('reports and leaves credentials under a key it lacks, and goes on with the rest', async () => {
    const now = SecretKeyring.of(newKey);
    const { made } = await connections(SecretKeyring.of(lostKey), SecretKeyring.none());
    const lostBefore = await storedText(made[0]!.id);
    const rotation = await rotateStoredCredentials(db(), now, { batchSize: 1 });
    expect(rotation.resealed).toBe(1);
    expect(rotation.unreadable).toEqual([{ connectionId: made[0]!.id, kid: secretKeyId(lostKey), reason: expect.stringContaining('not configured here') }]);
    expect(await storedText(made[0]!.id)).toBe(lostBefore);
    expect(await credentialsByKey(db())).toContainEqual({ kid: secretKeyId(lostKey), connections: 1 });
    await expect(findChannelConnection(db(), now, made[0]!.id)).rejects.toThrow(SecretKeyError);
  });

  it('finds the sibling of a shared webhook by its sealed secret and scope, whatever its bot', async () => {
    const keyring = SecretKeyring.of(newKey, [oldKey]);
    const upsert = async (botId: string, secrets: SecretKeyring, credentials: Record<string, string>) =>
      upsertChannelConnection(db(), secrets, {
        botId,
        channel: 'WhatsAppChannel',
        provider: 'whatsapp_cloud',
        credentials,
        baseUrl: null,
        rateLimitPerSecond: null,
      });
    const [a, b, c] = [await createBotRow(db()), await createBotRow(db()), await createBotRow(db())];
    const called = await upsert(a.id, keyring, { access_token: 'x', app_secret: 'shared-app-secret', phone_number_id: '111' });
    // Sealed under the previous key: still found.
    const sibling = await upsert(b.id, SecretKeyring.of(oldKey), { access_token: 'y', app_secret: 'shared-app-secret', phone_number_id: '222' });
    await upsert(c.id, keyring, { access_token: 'z', app_secret: 'another-app-secret', phone_number_id: '333' });
    const scope = (scopeValue: string) => ({ secretName: 'app_secret', scopeName: 'phone_number_id', scopeValue });
    expect(await findSiblingConnectionId(db(), keyring, called.id, scope('222'))).toBe(sibling.id);
    expect(await findSiblingConnectionId(db(), keyring, called.id, scope('111'))).toBe(called.id);
    expect(await findSiblingConnectionId(db(), keyring, called.id, scope('333'))).toBeNull(); // another app's number
    expect(await findSiblingConnectionId(db(), keyring, called.id, { ...scope('222'), secretName: 'verify_token' })).toBeNull();
  });
});
