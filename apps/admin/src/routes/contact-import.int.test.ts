import { request } from 'node:http';
import { sql } from 'kysely';
import { createMetricsRegistry } from '@herald/service';
import { createDb } from '@herald/db';
import { createBotRow, proxyInFrontOf, serveApp, testLogger, TEST_SECRETS, useTestDatabase, waitFor } from '@herald/testing';
import { createApp } from '../app';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../testing/admin-app';

/** POST /v1/bots/:id/contacts/import over real HTTP, NDJSON and CSV, against a real database. */

describe('contact import', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);

  async function upload(botId: string, contentType: string, body: string | Buffer) {
    const response = await fetch(`${admin.url}/v1/bots/${botId}/contacts/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': contentType },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  const contactsOf = (botId: string) => database.current.db.selectFrom('contacts').selectAll().where('bot_id', '=', botId).orderBy('id').execute();

  it('imports NDJSON in batches: every line upserted, a repeated contact updated, CRLF and blank lines fine', async () => {
    const bot = await createBotRow(database.current.db);
    const lines = Array.from({ length: 2_500 }, (_, i) =>
      JSON.stringify({ user_id: `u${i}`, bot_channel: 'telegram', first_name: `Name ${i}`, variables: { n: i, tier: i % 2 ? 'gold' : 'silver' } }),
    );
    // Line 2,401 repeats the first contact (a later batch): it is updated, its variables merged.
    lines.push(JSON.stringify({ user_id: 'u0', bot_channel: 'TelegramChannel', variables: { seen: true } }));
    const body = `${lines.slice(0, 1_000).join('\r\n')}\r\n\n${lines.slice(1_000).join('\n')}`; // no final newline

    const result = await upload(bot.id, 'application/x-ndjson', body);
    expect(result).toEqual({ status: 200, body: { rows: 2_501, created: 2_500, updated: 1 } });
    const contacts = await contactsOf(bot.id);
    expect(contacts).toHaveLength(2_500);
    expect(contacts[0]).toMatchObject({ user_id: 'u0', bot_channel: 'TelegramChannel', first_name: 'Name 0', variables: { n: 0, tier: 'silver', seen: true } });
    expect(contacts[2_499]).toMatchObject({ user_id: 'u2499', variables: { n: 2_499, tier: 'gold' } });
  });

  it('imports CSV: BOM, quoted commas, quotes and newlines, other columns as variables, empty cells unset', async () => {
    const bot = await createBotRow(database.current.db);
    const csv = [
      '\uFEFFbot_channel,user_id,user_phone_number,first_name,city,note',
      'telegram,t1,,"Smith, Ann",Zürich,"said ""hi""\nthen left"',
      'whatsapp,,+39 333 1234567,Bo,,',
      '',
    ].join('\r\n');
    const result = await upload(bot.id, 'text/csv; charset=utf-8', csv);
    expect(result).toEqual({ status: 200, body: { rows: 2, created: 2, updated: 0 } });
    const [ann, bo] = await contactsOf(bot.id);
    expect(ann).toMatchObject({
      bot_channel: 'TelegramChannel',
      user_id: 't1',
      first_name: 'Smith, Ann',
      variables: { city: 'Zürich', note: 'said "hi"\nthen left' },
    });
    // On WhatsApp the phone is the user id (SPEC §2), as in the JSON upsert.
    expect(bo).toMatchObject({ bot_channel: 'WhatsAppChannel', user_id: '+393331234567', first_name: 'Bo', variables: {} });
  });

  it('saves nothing when a line deep in the file is bad, even after earlier batches were written', async () => {
    const bot = await createBotRow(database.current.db);
    const lines = Array.from({ length: 2_300 }, (_, i) => JSON.stringify({ user_id: `u${i}`, bot_channel: 'telegram' }));
    lines[2_199] = JSON.stringify({ user_id: 'bad', bot_channel: 'carrier-pigeon' });
    const result = await upload(bot.id, 'application/x-ndjson', lines.join('\n'));
    expect(result.status).toBe(400);
    expect(result.body['error']).toMatchObject({ code: 'validation_failed', message: 'The import has 1 problem; nothing was saved' });
    expect(result.body['error'].details).toEqual([expect.objectContaining({ path: 'line 2200.bot_channel' })]);
    expect(await contactsOf(bot.id)).toEqual([]);
  });

  it('answers 400 and saves nothing when lines would take a contact past its variables bound together', async () => {
    const bot = await createBotRow(database.current.db);
    // Each line is within the per-call bound; the same contact twice is not.
    const half = (from: number) => Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`v${from + i}`, i]));
    const lines = [
      JSON.stringify({ user_id: 'ok', bot_channel: 'telegram' }),
      JSON.stringify({ user_id: 'u', bot_channel: 'telegram', variables: half(0) }),
      JSON.stringify({ user_id: 'u', bot_channel: 'telegram', variables: half(300) }),
    ];
    const result = await upload(bot.id, 'application/x-ndjson', lines.join('\n'));
    expect(result.status).toBe(400);
    expect(result.body['error']).toMatchObject({ code: 'validation_failed', details: [expect.objectContaining({ path: 'variables' })] });
    expect(await contactsOf(bot.id)).toEqual([]);
  });

  it('lists the problems of every kind with their line numbers', async () => {
    const bot = await createBotRow(database.current.db);
    const body = [
      '{"user_id":"ok","bot_channel":"telegram"}',
      '{"user_id":',
      '[1,2]',
      '{"user_id":"x","bot_channel":"telegram","colour":"red"}',
      '{"user_id":"y"}',
      '{"user_id":"z","bot_channel":"telegram","variables":{"Bad Name":1}}',
      '{"user_id":"n","bot_channel":"telegram","first_name":"A\\u0000B"}',
    ].join('\n');
    const result = await upload(bot.id, 'application/jsonl', body);
    expect(result.status).toBe(400);
    expect(result.body['error'].details.map((d: { path: string }) => d.path)).toEqual([
      'line 2',
      'line 3',
      'line 4.colour',
      'line 5.bot_channel',
      'line 6.variables.Bad Name',
      'line 7.first_name',
    ]);
    expect(await contactsOf(bot.id)).toEqual([]);
  });

  it('refuses what it cannot read: wrong type, unknown bot, bad header, broken quote, overlong line, empty body', async () => {
    const bot = await createBotRow(database.current.db);
    const json = await upload(bot.id, 'application/json', '{"contacts":[]}');
    expect([json.status, json.body['error'].code]).toEqual([415, 'unsupported_media_type']);
    const unknown = await upload('7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11', 'text/csv', 'bot_channel,user_id\ntelegram,1\n');
    expect(unknown.status).toBe(404);

    const header = await upload(bot.id, 'text/csv', 'user_id,Bad Column,user_id\n1,2,3\n');
    expect(header.status).toBe(400);
    expect(header.body['error'].details.map((d: { path: string }) => d.path)).toEqual(['line 1.column 2', 'line 1.column 3', 'line 1']);

    const nulCell = await upload(bot.id, 'text/csv', 'bot_channel,user_id,city\ntelegram,1,Ro\u0000me\n');
    expect([nulCell.status, nulCell.body['error'].details[0].path]).toEqual([400, 'line 2.variables.city']);

    const quote = await upload(bot.id, 'text/csv', 'bot_channel,user_id\ntelegram,"unclosed\n');
    expect([quote.status, quote.body['error'].code]).toEqual([400, 'bad_request']);

    const overlong = await upload(bot.id, 'application/x-ndjson', `{"user_id":"1","bot_channel":"telegram"}\n{"x":"${'a'.repeat(5 * 1024 * 1024)}"}\n`);
    expect([overlong.status, overlong.body['error'].details[0].path]).toEqual([413, 'line 2']);

    const empty = await upload(bot.id, 'application/x-ndjson', '\n\n');
    expect([empty.status, empty.body['error'].message]).toEqual([400, 'The import has no contacts']);
    expect(await contactsOf(bot.id)).toEqual([]);
  });

  it('rolls back what it wrote when the client goes away mid-upload', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const { port } = new URL(admin.url);
    const req = request({
      host: '127.0.0.1',
      port,
      path: `/v1/bots/${bot.id}/contacts/import`,
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-ndjson' },
    });
    req.on('error', () => undefined); // the reset we cause
    // 3,000 lines: three batches written inside the import's transaction, then the client vanishes.
    req.write(Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ user_id: `u${i}`, bot_channel: 'telegram' })).join('\n') + '\n');
    const transactionOpen = () =>
      sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()`
        .execute(db)
        .then((r) => r.rows[0]!.n);
    await waitFor(async () => (await transactionOpen()) === 1, { what: 'the import to be writing (its transaction open)' });
    req.destroy();
    await waitFor(async () => (await transactionOpen()) === 0, { what: 'the import transaction to end' });
    expect(await contactsOf(bot.id)).toEqual([]);
  });

  it('answers 503 and saves nothing when Postgres goes away in the middle of an import', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const { proxy, url } = await proxyInFrontOf(database.current.url);
    const viaProxy = createDb({ url, poolSize: 2 });
    const cutAdmin = await serveApp(
      createApp({
        logger: testLogger('admin'),
        checks: {},
        metrics: createMetricsRegistry('import-cut-test'),
        db: viaProxy,
        secrets: TEST_SECRETS,
        adminApiKey: KEY,
        publicUrl: 'https://hooks.example.com/',
      }),
    );
    try {
      const { port } = new URL(cutAdmin.url);
      const answer = new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: `/v1/bots/${bot.id}/contacts/import`,
            method: 'POST',
            headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-ndjson' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write(Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ user_id: `u${i}`, bot_channel: 'telegram' })).join('\n') + '\n');
        // Postgres goes away while the import is open; the client then finishes its upload.
        const transactionOpen = () =>
          sql<{
            n: number;
          }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()`
            .execute(db)
            .then((r) => r.rows[0]!.n);
        void waitFor(async () => (await transactionOpen()) === 1, { what: 'the import to be writing' }).then(() => {
          proxy.cut();
          req.end(JSON.stringify({ user_id: 'last', bot_channel: 'telegram' }) + '\n');
        }, reject);
      });
      expect(await answer).toBe(503);
      proxy.restore();
      expect(await contactsOf(bot.id)).toEqual([]);
    } finally {
      await cutAdmin.close();
      await viaProxy.destroy();
      await proxy.close();
    }
  });
});
