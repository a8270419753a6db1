import { sql } from 'kysely';
import { tokenDigest, tokenMatches } from '@herald/core';
import { findHookBroadcast, isRevokedTokenDigest, type Db } from '@herald/db';
import { createTriggerRow, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, adminApi, useAdminApp } from '../testing/admin-app';

/**
 * Rotating and revoking a bot's API token, and deleting a bot, over real HTTP against this
 * file's own database. A token is checked as the ingress checks it on a hook not in direct
 * mode: the hook's broadcast found by findHookBroadcast, its bot digest compared by tokenMatches.
 */

const UNKNOWN = '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11';

/** Every table holding something of a bot; those without a foreign key are found by connection or run. */
const TABLES = [
  'bots',
  'channel_connections',
  'contacts',
  'broadcasts',
  'triggers',
  'idempotency_keys',
  'runs',
  'deliveries',
  'delivery_leases',
  'web_outbox',
  'provider_messages',
  'pending_receipts',
] as const;

describe('bots: API token rotation and revocation, deletion', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);
  let db: Db;
  beforeAll(() => {
    db = database.current.db;
  });

  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => adminApi(admin, method, path, body, headers);

  /** A bot made through the API, with a broadcast whose hook requires the bot token. */
  async function botWithHook(name = 'Shop bot') {
    const bot = (await api('POST', '/v1/bots', { name })).body as { id: string; api_token: string; created_at: string };
    const broadcast = (await api('POST', `/v1/bots/${bot.id}/broadcasts`, { name: 'Order update', message: { text: 'Hi' }, direct_mode: false })).body;
    const hookToken = new URL(broadcast['hook_url'] as string).pathname.split('/').pop()!;
    return { ...bot, broadcastId: broadcast['id'] as string, hookToken };
  }

  /** Whether the ingress would take `apiToken` on this hook (its check, minus its one-second cache). */
  async function hookAccepts(hookToken: string, apiToken: string): Promise<boolean> {
    const broadcast = await findHookBroadcast(db, tokenDigest(hookToken));
    if (!broadcast) throw new Error('no such hook');
    return tokenMatches(apiToken, broadcast.bot_api_token_sha256);
  }

  async function storedDigest(botId: string): Promise<Buffer> {
    return (await db.selectFrom('bots').select('api_token_sha256').where('id', '=', botId).executeTakeFirstOrThrow()).api_token_sha256;
  }

  describe('POST /v1/bots/:id/token', () => {
    it('answers a new token once, stores only its digest, and refuses the old one from then on', async () => {
      const bot = await botWithHook();
      expect(await hookAccepts(bot.hookToken, bot.api_token)).toBe(true);

      const rotated = await api('POST', `/v1/bots/${bot.id}/token`);
      expect(rotated.status).toBe(200);
      expect(rotated.body).toEqual({ id: bot.id, name: 'Shop bot', api_token: expect.stringMatching(/^hbt_/), created_at: bot.created_at });
      const newToken = rotated.body['api_token'] as string;
      expect(newToken).not.toBe(bot.api_token);
      expect((await storedDigest(bot.id)).equals(tokenDigest(newToken))).toBe(true);
      expect(await hookAccepts(bot.hookToken, bot.api_token)).toBe(false);
      expect(await hookAccepts(bot.hookToken, newToken)).toBe(true);

      // Never shown again.
      expect(JSON.stringify((await api('GET', `/v1/bots/${bot.id}`)).body)).not.toContain(newToken);
      const again = (await api('POST', `/v1/bots/${bot.id}/token`)).body['api_token'] as string;
      expect(await hookAccepts(bot.hookToken, newToken)).toBe(false);
      expect(await hookAccepts(bot.hookToken, again)).toBe(true);
    });

    it('leaves the other bots alone', async () => {
      const [one, other] = [await botWithHook('one'), await botWithHook('other')];
      await api('POST', `/v1/bots/${one.id}/token`);
      expect(await hookAccepts(other.hookToken, other.api_token)).toBe(true);
    });
  });

  describe('DELETE /v1/bots/:id/token', () => {
    it('revokes the token: none is accepted until a rotation, which brings a working one', async () => {
      const bot = await botWithHook();
      const revoked = await api('DELETE', `/v1/bots/${bot.id}/token`);
      expect([revoked.status, revoked.body]).toEqual([204, undefined]);
      expect(await hookAccepts(bot.hookToken, bot.api_token)).toBe(false);
      // What is stored is no digest at all: 24 bytes, where every SHA-256 has 32.
      const stored = await storedDigest(bot.id);
      expect(stored).toHaveLength(24);
      expect(isRevokedTokenDigest(stored)).toBe(true);
      expect(await hookAccepts(bot.hookToken, '')).toBe(false);
      expect(await hookAccepts(bot.hookToken, stored.toString('latin1'))).toBe(false);

      // Revoking again changes nothing; a rotation brings a token that works.
      expect((await api('DELETE', `/v1/bots/${bot.id}/token`)).status).toBe(204);
      const rotated = (await api('POST', `/v1/bots/${bot.id}/token`)).body['api_token'] as string;
      expect(await hookAccepts(bot.hookToken, rotated)).toBe(true);
      expect(await hookAccepts(bot.hookToken, bot.api_token)).toBe(false);
      expect(isRevokedTokenDigest(await storedDigest(bot.id))).toBe(false);
    });

    it('revokes the tokens of many bots (the column stays unique: each mark names its bot)', async () => {
      const bots = [await botWithHook('a'), await botWithHook('b'), await botWithHook('c')];
      for (const bot of bots) expect((await api('DELETE', `/v1/bots/${bot.id}/token`)).status).toBe(204);
      const marks = await Promise.all(bots.map((bot) => storedDigest(bot.id)));
      expect(new Set(marks.map((mark) => mark.toString('hex'))).size).toBe(3);
      for (const bot of bots) expect(await hookAccepts(bot.hookToken, bot.api_token)).toBe(false);
    });
  });

  describe('DELETE /v1/bots/:id', () => {
    /** A bot with a row in every table that can hold something of it; the run is completed unless told. */
    async function seededBot(name: string, runStatus: 'completed' | 'dispatching' | 'delivering' = 'completed') {
      const bot = await botWithHook(name);
      const put = await api('PUT', `/v1/bots/${bot.id}/channels/web`, { provider: 'web' });
      expect(put.status).toBe(200);
      const connectionId = put.body['id'] as string;
      const contacts = [
        { user_id: '1', bot_channel: 'web' },
        { user_id: '2', bot_channel: 'web' },
        { user_id: '3', bot_channel: 'web' },
      ];
      expect((await api('POST', `/v1/bots/${bot.id}/contacts`, { contacts })).body).toMatchObject({ created: 3 });
      const contactIds = (await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').execute()).map((c) => c.id);
      const run = await db
        .insertInto('runs')
        .values({ broadcast_id: bot.broadcastId, status: runStatus, targeted: 3 })
        .returning('id')
        .executeTakeFirstOrThrow();
      const trigger = await createTriggerRow(db, bot.broadcastId, { status: 'dispatched' });
      await createTriggerRow(db, bot.broadcastId); // pending
      await db.updateTable('triggers').set({ run_id: run.id }).where('id', '=', trigger.id).execute();
      await db
        .insertInto('idempotency_keys')
        .values({ broadcast_id: bot.broadcastId, key: 'k1', trigger_id: trigger.id, response: JSON.stringify({ status: 'scheduled' }) })
        .execute();
      const deliveries = await db
        .insertInto('deliveries')
        .values(contactIds.map((contactId, i) => ({ run_id: run.id, contact_id: contactId, channel: 'WebChannel' as const, status: 'sent', text: `hi ${i}` })))
        .returning('id')
        .execute();
      await db.insertInto('web_outbox').values({ contact_id: contactIds[0]!, delivery_id: deliveries[0]!.id, text: 'hi 0' }).execute();
      await db
        .insertInto('provider_messages')
        .values(deliveries.slice(0, 2).map((d, i) => ({ connection_id: connectionId, provider_message_id: `pm-${i}`, delivery_id: d.id })))
        .execute();
      await db.insertInto('pending_receipts').values({ connection_id: connectionId, provider_message_id: 'early', delivered_at: new Date() }).execute();
      await sql`INSERT INTO delivery_leases (claim_id, run_id, first_id, last_id, lease_until)
        VALUES (gen_random_uuid(), ${run.id}, 1, 1, now())`.execute(db);
      return { ...bot, connectionId, runId: run.id };
    }

    /** What one seeded bot holds, table by table. */
    const SEEDED: Record<(typeof TABLES)[number], number> = {
      bots: 1,
      channel_connections: 1,
      contacts: 3,
      broadcasts: 1,
      triggers: 2,
      idempotency_keys: 1,
      runs: 1,
      deliveries: 3,
      delivery_leases: 1,
      web_outbox: 1,
      provider_messages: 2,
      pending_receipts: 1,
    };

    /** Rows of each table belonging to the bot (those without a foreign key: through its connection or runs). */
    async function rowsOf(botId: string, connectionId: string, runId: string): Promise<Record<string, number>> {
      const { rows } = await sql<Record<string, string>>`
        SELECT
          (SELECT count(*) FROM bots WHERE id = ${botId}) AS bots,
          (SELECT count(*) FROM channel_connections WHERE bot_id = ${botId}) AS channel_connections,
          (SELECT count(*) FROM contacts WHERE bot_id = ${botId}) AS contacts,
          (SELECT count(*) FROM broadcasts WHERE bot_id = ${botId}) AS broadcasts,
          (SELECT count(*) FROM triggers t JOIN broadcasts b ON b.id = t.broadcast_id WHERE b.bot_id = ${botId}) AS triggers,
          (SELECT count(*) FROM idempotency_keys k JOIN broadcasts b ON b.id = k.broadcast_id WHERE b.bot_id = ${botId}) AS idempotency_keys,
          (SELECT count(*) FROM runs WHERE id = ${runId}) AS runs,
          (SELECT count(*) FROM deliveries WHERE run_id = ${runId}) AS deliveries,
          (SELECT count(*) FROM delivery_leases WHERE run_id = ${runId}) AS delivery_leases,
          (SELECT count(*) FROM web_outbox o JOIN contacts c ON c.id = o.contact_id WHERE c.bot_id = ${botId}) AS web_outbox,
          (SELECT count(*) FROM provider_messages WHERE connection_id = ${connectionId}) AS provider_messages,
          (SELECT count(*) FROM pending_receipts WHERE connection_id = ${connectionId}) AS pending_receipts`.execute(db);
      return Object.fromEntries(Object.entries(rows[0]!).map(([table, n]) => [table, Number(n)]));
    }

    async function totals(): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const table of TABLES) {
        const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
        counts[table] = Number(rows[0]!.n);
      }
      return counts;
    }

    it('deletes the bot and every row of it, in every table, and nothing of another bot', async () => {
      const doomed = await seededBot('doomed');
      const kept = await seededBot('kept');
      expect(await rowsOf(doomed.id, doomed.connectionId, doomed.runId)).toEqual(SEEDED);
      const before = await totals();

      const deleted = await api('DELETE', `/v1/bots/${doomed.id}`);
      expect([deleted.status, deleted.body]).toEqual([204, undefined]);

      expect(await rowsOf(doomed.id, doomed.connectionId, doomed.runId)).toEqual(Object.fromEntries(TABLES.map((table) => [table, 0])));
      expect(await totals()).toEqual(Object.fromEntries(TABLES.map((table) => [table, before[table]! - SEEDED[table]])));
      expect(await rowsOf(kept.id, kept.connectionId, kept.runId)).toEqual(SEEDED);
      expect(await hookAccepts(kept.hookToken, kept.api_token)).toBe(true);

      // The hook of a deleted bot's broadcast names nothing (the ingress answers 404), and the bot is gone.
      expect(await findHookBroadcast(db, tokenDigest(doomed.hookToken))).toBeUndefined();
      expect((await api('GET', `/v1/bots/${doomed.id}`)).status).toBe(404);
      expect((await api('DELETE', `/v1/bots/${doomed.id}`)).status).toBe(404);
      expect((await api('POST', `/v1/bots/${doomed.id}/token`)).status).toBe(404);
    });

    it('deletes a bot that has nothing yet', async () => {
      const bot = (await api('POST', '/v1/bots', { name: 'empty' })).body as { id: string };
      expect((await api('DELETE', `/v1/bots/${bot.id}`)).status).toBe(204);
      expect((await api('GET', `/v1/bots/${bot.id}`)).status).toBe(404);
    });

    it.each(['dispatching', 'delivering'] as const)('refuses with 409 while a run is %s, and deletes once its broadcasts are cancelled', async (status) => {
      const bot = await seededBot(`busy ${status}`, status);
      const refused = await api('DELETE', `/v1/bots/${bot.id}`);
      expect(refused.status).toBe(409);
      expect(refused.body['error']).toEqual({
        code: 'conflict',
        message: expect.stringContaining('cancel its broadcasts first'),
        details: [{ path: `broadcasts.${bot.broadcastId}`, message: `run ${bot.runId} is ${status}`, expected: 'no run dispatching or delivering' }],
      });
      expect(await rowsOf(bot.id, bot.connectionId, bot.runId)).toEqual(SEEDED); // nothing deleted

      expect((await api('POST', `/v1/broadcasts/${bot.broadcastId}/cancel`)).status).toBe(200);
      expect((await api('DELETE', `/v1/bots/${bot.id}`)).status).toBe(204);
      expect(await rowsOf(bot.id, bot.connectionId, bot.runId)).toEqual(Object.fromEntries(TABLES.map((table) => [table, 0])));
    });
  });

  describe('unknown bots and the admin key', () => {
    it.each([
      ['DELETE', ''],
      ['POST', '/token'],
      ['DELETE', '/token'],
    ])('%s /v1/bots/:id%s answers 404 for an unknown or malformed id, 401 without the admin key', async (method, suffix) => {
      const bot = await botWithHook();
      expect((await api(method, `/v1/bots/${UNKNOWN}${suffix}`)).body['error']).toMatchObject({ code: 'not_found', message: 'No such bot' });
      expect((await api(method, `/v1/bots/42${suffix}`)).status).toBe(404);
      const keyless = await fetch(`${admin.url}/v1/bots/${bot.id}${suffix}`, { method });
      expect(keyless.status).toBe(401);
      expect((await api(method, `/v1/bots/${bot.id}${suffix}`, undefined, { authorization: `Bearer ${KEY}x` })).status).toBe(401);
      // Nothing happened to the bot.
      expect((await api('GET', `/v1/bots/${bot.id}`)).status).toBe(200);
      expect(await hookAccepts(bot.hookToken, bot.api_token)).toBe(true);
    });
  });
});
