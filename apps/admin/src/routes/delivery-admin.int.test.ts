import { randomUUID } from 'node:crypto';
import { recordConnectionFault, upsertContacts, type Db } from '@herald/db';
import { contactUpsert, createBotRow, createBroadcastRow, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../testing/admin-app';

/** What the admin API shows and takes of the delivery stage, over real HTTP. */
describe('admin API: channel connections, run progress, web chat outbox', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database, () => ({ outboundAllowedDestinations: ['10.1.2.3'] }));
  let db: Db;
  beforeAll(() => {
    db = database.current.db;
  });

  async function call(method: string, path: string, body?: unknown) {
    const response = await fetch(`${admin.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  const customConnection = (base_url: string | null) => ({ provider: 'custom', base_url, credentials: { secret: 's3cret-value' } });

  it.each([
    ['http://169.254.169.254/latest/meta-data', 'cloud metadata'],
    ['http://metadata.google.internal/computeMetadata/v1', 'metadata host name'],
    ['http://127.0.0.1:6379', 'loopback Redis'],
    ['http://[::1]:5432', 'loopback Postgres'],
    ['http://10.0.0.8/in', 'private range'],
    ['http://user:pw@example.com/in', 'credentials in the URL'],
  ])('refuses base_url %s (%s) without echoing it back', async (url) => {
    const bot = await createBotRow(db);
    const answer = await call('PUT', `/v1/bots/${bot.id}/channels/custom`, customConnection(url));
    expect(answer.status).toBe(400);
    expect(answer.body.error.details[0].path).toBe('base_url');
    expect(JSON.stringify(answer.body)).not.toContain('pw@');
    expect(await db.selectFrom('channel_connections').select('id').where('bot_id', '=', bot.id).execute()).toHaveLength(0);
  });

  it('accepts a public base_url, and a private one only when allow-listed; custom needs one', async () => {
    const bot = await createBotRow(db);
    expect((await call('PUT', `/v1/bots/${bot.id}/channels/custom`, customConnection('https://hooks.example.com/in'))).status).toBe(200);
    expect((await call('PUT', `/v1/bots/${bot.id}/channels/custom`, customConnection('http://10.1.2.3:9000/in'))).status).toBe(200);
    const missing = await call('PUT', `/v1/bots/${bot.id}/channels/custom`, customConnection(null));
    expect(missing.status).toBe(400);
    expect(missing.body.error.details[0]).toMatchObject({ path: 'base_url', message: expect.stringContaining('required') });
  });

  it("shows a connection's fault and default rate, never its credentials; saving it again clears the fault", async () => {
    const bot = await createBotRow(db);
    const put = await call('PUT', `/v1/bots/${bot.id}/channels/telegram`, { provider: 'telegram', credentials: { bot_token: '123:SECRET' } });
    expect(put.body).toMatchObject({ fault: null, rate_limit_per_second: null, effective_rate_limit_per_second: 30, credential_names: ['bot_token'] });
    const { id } = await db.selectFrom('channel_connections').select('id').where('bot_id', '=', bot.id).executeTakeFirstOrThrow();
    await recordConnectionFault(db, id, { code: 'http_401', message: 'Unauthorized' });

    const listed = await call('GET', `/v1/bots/${bot.id}/channels`);
    expect(listed.body.data[0].fault).toMatchObject({ code: 'http_401', message: 'Unauthorized', at: expect.any(String) });
    expect(JSON.stringify(listed.body)).not.toContain('SECRET');

    await call('PUT', `/v1/bots/${bot.id}/channels/telegram`, { provider: 'telegram', credentials: { bot_token: '123:NEW' } });
    expect((await call('GET', `/v1/bots/${bot.id}`)).body.channels[0].fault).toBeNull();
  });

  it('shows live progress from the run counters: pending, rate, completed_at; deliveries by reason', async () => {
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(
      db,
      bot.id,
      ['a', 'b', 'c'].map((userId) => contactUpsert('CustomChannel', userId)),
    );
    const contacts = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').execute();
    const run = await db
      .insertInto('runs')
      .values({
        broadcast_id: broadcast.id,
        status: 'delivering',
        targeted: 3,
        handed_off: 3,
        sent: 1,
        skipped: 1,
        rate_window_at: new Date(Date.now() - 1_000),
        rate_per_second: 42.25,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('deliveries')
      .values([
        { run_id: run.id, contact_id: contacts[0]!.id, channel: 'CustomChannel', status: 'sent' },
        { run_id: run.id, contact_id: contacts[1]!.id, channel: 'CustomChannel', status: 'skipped', reason: 'unreachable' },
        { run_id: run.id, contact_id: contacts[2]!.id, channel: 'CustomChannel', status: 'sending', claim_id: randomUUID() },
      ])
      .execute();

    const live = await call('GET', `/v1/runs/${run.id}`);
    expect(live.body).toMatchObject({
      status: 'delivering',
      counts: { targeted: 3, sent: 1, skipped: 1, failed: 0, pending: 1 },
      rate_per_second: 42.3,
      completed_at: null,
    });
    const unreachable = await call('GET', `/v1/runs/${run.id}/deliveries?reason=unreachable`);
    expect(unreachable.body.data).toHaveLength(1);
    expect(unreachable.body.data[0]).toMatchObject({ status: 'skipped', reason: 'unreachable' });
    expect((await call('GET', `/v1/runs/${run.id}/deliveries?status=sending`)).body.data).toHaveLength(1);
    expect((await call('GET', `/v1/runs/${run.id}/deliveries?reason=bogus`)).status).toBe(400);

    await db.updateTable('runs').set({ status: 'completed', sent: 2, finished_at: new Date() }).where('id', '=', run.id).execute();
    const done = await call('GET', `/v1/runs/${run.id}`);
    expect(done.body).toMatchObject({ status: 'completed', counts: { pending: 0 }, rate_per_second: 0, completed_at: expect.any(String) });
  });

  it("serves a web chat contact's outbox since a cursor and marks messages read", async () => {
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(db, bot.id, [contactUpsert('WebChannel', 'web-1')]);
    const contact = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).executeTakeFirstOrThrow();
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, status: 'completed' }).returning('id').executeTakeFirstOrThrow();
    for (const text of ['one', 'two', 'three']) {
      const other = await db.insertInto('runs').values({ broadcast_id: broadcast.id, status: 'completed' }).returning('id').executeTakeFirstOrThrow();
      const delivery = await db
        .insertInto('deliveries')
        .values({ run_id: text === 'one' ? run.id : other.id, contact_id: contact.id, channel: 'WebChannel', status: 'sent' })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db.insertInto('web_outbox').values({ contact_id: contact.id, delivery_id: delivery.id, text }).execute();
    }
    const base = `/v1/bots/${bot.id}/contacts/${contact.id}/outbox`;
    const first = await call('GET', `${base}?limit=2`);
    expect(first.body.data.map((m: { text: string }) => m.text)).toEqual(['one', 'two']);
    const rest = await call('GET', `${base}?limit=2&cursor=${first.body.next_cursor}`);
    expect(rest.body.data.map((m: { text: string }) => m.text)).toEqual(['three']);

    expect((await call('POST', `${base}/read`, { through_id: first.body.data[1].id })).body).toEqual({ marked_read: 2 });
    const unread = await call('GET', `${base}?unread=true`);
    expect(unread.body.data.map((m: { text: string }) => m.text)).toEqual(['three']);

    expect((await call('GET', `/v1/bots/${bot.id}/contacts/99999999/outbox`)).status).toBe(404);
    expect((await call('GET', `/v1/bots/${bot.id}/contacts/not-a-number/outbox`)).status).toBe(404);
    expect((await call('POST', `${base}/read`, { through_id: 'x' })).status).toBe(400);
  });
});
