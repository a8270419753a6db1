import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { applyReceipt, NO_RECEIPTS, receiptStatus, type ChannelName, type ReceiptEvent, type ReceiptState } from '@herald/core';
import { applyPendingReceipts, upsertChannelConnection, upsertContacts, type Db } from '@herald/db';
import { createMetricsRegistry } from '@herald/service';
import {
  contactUpsert,
  createBotRow,
  createBroadcastRow,
  seededRandom,
  serveApp,
  testLogger,
  TEST_SECRETS,
  useTestDatabase,
  type ServedApp,
} from '@herald/testing';
import { createApp } from '../app';
import { twilioSignature } from '../callbacks/twilio.callbacks';

/**
 * Providers' callbacks over real HTTP on loopback, against this file's own Postgres database:
 * their documented bodies (callbacks/fixtures, sources in SOURCES.md) with our ids put in,
 * signed as each provider signs. What they change, that a forged one changes nothing, and
 * that any order and any number of repeats end in the same states and run counts.
 */

const FIXTURES = join(__dirname, '..', 'callbacks', 'fixtures');
const fixtureText = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const fixture = <T = Record<string, unknown>>(name: string): T => JSON.parse(fixtureText(name)) as T;

const APP_SECRET = 'meta-app-secret-for-tests';
const VERIFY_TOKEN = 'meatyhamhock';
const AUTH_TOKEN = 'twilio-auth-token-for-tests';
const CLIENT_TOKEN = 'SJENCPGJESMGUFPY';
const CUSTOM_SECRET = 'custom-secret-for-tests';
const TELEGRAM_SECRET = 'telegram-webhook-secret';

describe('POST|GET /callbacks/:connectionId', () => {
  const database = useTestDatabase();
  const db = (): Db => database.current.db;
  let ingress: ServedApp;
  let publicUrl: string;

  beforeAll(async () => {
    // PUBLIC_URL is what Twilio signs: the loopback address this test calls, known once listening.
    const late: { app?: ReturnType<typeof createApp> } = {};
    ingress = await serveApp((req, res) => late.app!(req, res));
    publicUrl = ingress.url;
    late.app = createApp({
      logger: testLogger('ingress'),
      checks: {},
      metrics: createMetricsRegistry('callbacks-test'),
      // The hook is not called here (routes/hooks.int.test.ts covers it): no queue to give it.
      hooks: { deps: undefined as never, trustedProxies: null, bodyLimitBytes: 1024 * 1024 },
      callbacks: { db: db(), secrets: TEST_SECRETS, publicUrl, bodyLimitBytes: 1024 * 1024 },
    });
  });
  afterAll(() => ingress.close());

  interface Seeded {
    botId: string;
    connectionId: string;
    runId: string;
    deliveries: Array<{ id: string; contactId: string; userId: string; providerMessageId: string }>;
  }

  /**
   * A bot with one connection and a run whose deliveries were all sent on it, as the worker
   * leaves them: status `sent`, the provider's id kept, and mapped in provider_messages.
   */
  async function seedSentRun(
    channel: ChannelName,
    provider: string,
    credentials: Record<string, string>,
    userIds: string[],
    idOf = (i: number) => `msg-${i}`,
  ): Promise<Seeded> {
    const bot = await createBotRow(db());
    const connection = await upsertChannelConnection(db(), TEST_SECRETS, {
      botId: bot.id,
      channel,
      provider,
      credentials,
      baseUrl: null,
      rateLimitPerSecond: null,
    });
    await upsertContacts(
      db(),
      bot.id,
      userIds.map((id) => contactUpsert(channel, id)),
    );
    const broadcast = await createBroadcastRow(db(), bot.id);
    const run = await db()
      .insertInto('runs')
      .values({ broadcast_id: broadcast.id, status: 'completed', targeted: userIds.length, sent: userIds.length, finished_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const providerIds = userIds.map((_, i) => idOf(i));
    const { rows } = await sql<{ id: string; contact_id: string; provider_message_id: string }>`
      INSERT INTO deliveries (run_id, contact_id, channel, status, sent_at, attempts, provider_message_id)
      SELECT ${run.id}, c.id, c.bot_channel, 'sent', now() - interval '1 minute', 1, ids.provider_id
      FROM unnest(${userIds}::text[], ${providerIds}::text[]) WITH ORDINALITY AS ids(user_id, provider_id, ord)
      JOIN contacts c ON c.bot_id = ${bot.id} AND c.user_id = ids.user_id
      ORDER BY ids.ord
      RETURNING id, contact_id, provider_message_id`.execute(db());
    const deliveries = userIds.map((userId, i) => {
      const row = rows.find((r) => r.provider_message_id === providerIds[i])!;
      return { id: row.id, contactId: row.contact_id, userId, providerMessageId: providerIds[i]! };
    });
    await db()
      .insertInto('provider_messages')
      .values(deliveries.map((d) => ({ connection_id: connection.id, provider_message_id: d.providerMessageId, delivery_id: d.id })))
      .execute();
    return { botId: bot.id, connectionId: connection.id, runId: run.id, deliveries };
  }

  async function runCounts(runId: string) {
    return db().selectFrom('runs').select(['targeted', 'sent', 'failed', 'skipped', 'delivered', 'read']).where('id', '=', runId).executeTakeFirstOrThrow();
  }

  async function deliveryRows(runId: string) {
    return db()
      .selectFrom('deliveries')
      .select(['id', 'status', 'reason', 'error_code', 'last_error', 'delivered_at', 'read_at', 'failed_at'])
      .where('run_id', '=', runId)
      .orderBy('id')
      .execute();
  }

  /** Everything a callback could change, to show that a refused one changed nothing. */
  async function snapshot() {
    const [deliveries, runs, contacts, pending] = await Promise.all([
      db().selectFrom('deliveries').selectAll().orderBy('id').execute(),
      db().selectFrom('runs').selectAll().orderBy('id').execute(),
      db().selectFrom('contacts').selectAll().orderBy('id').execute(),
      db().selectFrom('pending_receipts').selectAll().orderBy('id').execute(),
    ]);
    return { deliveries, runs, contacts, pending };
  }

  function post(connectionId: string, body: string, headers: Record<string, string>, base = publicUrl) {
    return fetch(`${base}/callbacks/${connectionId}`, { method: 'POST', headers, body });
  }

  const metaSigned = (body: string, secret = APP_SECRET) => ({
    'content-type': 'application/json',
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  });

  /** A WhatsApp status webhook from Meta's documented example, for our message id and time. */
  function whatsappStatus(file: string, id: string, timestamp: number): string {
    const body = fixture<{ entry: Array<{ changes: Array<{ value: { statuses: Array<Record<string, unknown>> } }> }> }>(file);
    const status = body.entry[0]!.changes[0]!.value.statuses[0]!;
    status['id'] = id;
    status['timestamp'] = String(timestamp);
    return JSON.stringify(body);
  }

  describe('WhatsApp (Meta)', () => {
    const credentials = { access_token: 'x', phone_number_id: '106540352242922', app_secret: APP_SECRET, verify_token: VERIFY_TOKEN };

    it('answers the handshake with the challenge only for the right verify token', async () => {
      const { connectionId } = await seedSentRun('WhatsAppChannel', 'whatsapp_cloud', credentials, ['16505550001']);
      const { query } = fixture<{ query: Record<string, string> }>('meta-verification-request.json');
      const right = await fetch(`${publicUrl}/callbacks/${connectionId}?${new URLSearchParams(query).toString()}`);
      expect(right.status).toBe(200);
      expect(await right.text()).toBe(query['hub.challenge']);
      const wrong = await fetch(`${publicUrl}/callbacks/${connectionId}?${new URLSearchParams({ ...query, 'hub.verify_token': 'guess' }).toString()}`);
      expect(wrong.status).toBe(403);
      expect(await wrong.text()).not.toContain(query['hub.challenge']!);
    });

    it("records Meta's delivered, read and failed statuses, and refuses a forged one without changing anything", async () => {
      const seeded = await seedSentRun(
        'WhatsAppChannel',
        'whatsapp_cloud',
        credentials,
        ['16505550011', '16505550012', '16505550013'],
        (i) => `wamid.test-${i}-${Date.now()}`,
      );
      const [a, b, c] = seeded.deliveries;

      const forged = whatsappStatus('whatsapp-status-read.json', a!.providerMessageId, 1750030073);
      const before = await snapshot();
      for (const headers of [
        metaSigned(forged, 'not-the-app-secret'),
        { 'content-type': 'application/json' },
        { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' },
      ]) {
        expect((await post(seeded.connectionId, forged, headers)).status).toBe(401);
      }
      expect(await snapshot()).toEqual(before);

      for (const [file, delivery, at] of [
        ['whatsapp-status-delivered.json', a, 1750263773],
        ['whatsapp-status-read.json', b, 1750030073],
        ['whatsapp-status-failed.json', c, 1751142888],
      ] as const) {
        const body = whatsappStatus(file, delivery!.providerMessageId, at);
        const response = await post(seeded.connectionId, body, metaSigned(body));
        expect(response.status).toBe(200);
      }
      const rows = await deliveryRows(seeded.runId);
      expect(rows[0]).toMatchObject({ status: 'sent', delivered_at: new Date(1750263773_000), read_at: null });
      expect(rows[1]).toMatchObject({ status: 'sent', delivered_at: new Date(1750030073_000), read_at: new Date(1750030073_000) });
      expect(rows[2]).toMatchObject({
        status: 'failed',
        reason: 'undelivered',
        error_code: '131049',
        failed_at: new Date(1751142888_000),
        last_error: expect.stringContaining('healthy ecosystem engagement'),
      });
      expect(await runCounts(seeded.runId)).toEqual({ targeted: 3, sent: 2, failed: 1, skipped: 0, delivered: 2, read: 1 });
    });

    it('opts out on 131050 and on a marketing "stop" preference, and back in on "resume"', async () => {
      const seeded = await seedSentRun(
        'WhatsAppChannel',
        'whatsapp_cloud',
        credentials,
        ['16505551234', '16505559999'],
        (i) => `wamid.pref-${i}-${Date.now()}`,
      );
      const optedOut = async () =>
        (
          await db()
            .selectFrom('contacts')
            .select(['user_id', 'opt_out_reason'])
            .where('bot_id', '=', seeded.botId)
            .where('opted_out_at', 'is not', null)
            .execute()
        ).map((c) => `${c.user_id}: ${c.opt_out_reason}`);
      const stop = fixtureText('whatsapp-user-preferences-stop.json'); // wa_id 16505551234, verbatim bytes
      expect((await post(seeded.connectionId, stop, metaSigned(stop))).status).toBe(200);
      expect(await optedOut()).toEqual(['16505551234: stopped marketing messages (WhatsApp)']);
      const resume = fixtureText('whatsapp-user-preferences-resume.json');
      expect((await post(seeded.connectionId, resume, metaSigned(resume))).status).toBe(200);
      expect(await optedOut()).toEqual([]);

      const failed = fixture<{ entry: Array<{ changes: Array<{ value: { statuses: Array<Record<string, unknown>> } }> }> }>(
        'whatsapp-status-failed-131050.json',
      );
      failed.entry[0]!.changes[0]!.value.statuses[0]!['id'] = seeded.deliveries[1]!.providerMessageId;
      failed.entry[0]!.changes[0]!.value.statuses[0]!['recipient_id'] = '16505559999';
      const body = JSON.stringify(failed);
      expect((await post(seeded.connectionId, body, metaSigned(body))).status).toBe(200);
      expect(await optedOut()).toEqual(['16505559999: stopped marketing messages (WhatsApp 131050)']);
      expect((await deliveryRows(seeded.runId))[1]).toMatchObject({ status: 'failed', error_code: '131050' });
    });
  });

  it("one Meta app's webhook for two numbers: each fact goes to its own number's connection, never to a contact of the other bot", async () => {
    const shared = { access_token: 'x', app_secret: APP_SECRET, verify_token: VERIFY_TOKEN };
    const stamp = Date.now();
    // Two bots, two numbers of one Meta app, one person in both bots' contacts.
    const a = await seedSentRun(
      'WhatsAppChannel',
      'whatsapp_cloud',
      { ...shared, phone_number_id: `pn-a-${stamp}` },
      ['16505551234'],
      () => `wamid.a-${stamp}`,
    );
    const b = await seedSentRun(
      'WhatsAppChannel',
      'whatsapp_cloud',
      { ...shared, phone_number_id: `pn-b-${stamp}` },
      ['16505551234'],
      () => `wamid.b-${stamp}`,
    );
    const aboutB = (file: string, edit: (value: Record<string, unknown>) => void) => {
      const body = fixture<{ entry: Array<{ changes: Array<{ value: Record<string, unknown> & { metadata: Record<string, string> } }> }> }>(file);
      const value = body.entry[0]!.changes[0]!.value;
      value.metadata.phone_number_id = `pn-b-${stamp}`;
      edit(value);
      return JSON.stringify(body);
    };
    // All of it arrives at A's URL, the one the app was given.
    const delivered = aboutB('whatsapp-status-delivered.json', (v) => ((v['statuses'] as Array<Record<string, unknown>>)[0]!['id'] = `wamid.b-${stamp}`));
    const stop = aboutB('whatsapp-user-preferences-stop.json', () => undefined);
    const elsewhere = aboutB(
      'whatsapp-user-preferences-stop.json',
      (v) => ((v['metadata'] as Record<string, string>)['phone_number_id'] = 'pn-of-no-connection'),
    );
    for (const body of [delivered, stop, elsewhere]) expect((await post(a.connectionId, body, metaSigned(body))).status).toBe(200);

    expect((await deliveryRows(b.runId))[0]!.delivered_at).toEqual(new Date(1750263773_000));
    expect((await deliveryRows(a.runId))[0]!.delivered_at).toBeNull();
    const optedOut = await db()
      .selectFrom('contacts')
      .select('bot_id')
      .where('bot_id', 'in', [a.botId, b.botId])
      .where('opted_out_at', 'is not', null)
      .execute();
    expect(optedOut).toEqual([{ bot_id: b.botId }]);
    // Nothing parked for B's message under A's connection.
    expect(await db().selectFrom('pending_receipts').select('id').where('connection_id', 'in', [a.connectionId, b.connectionId]).execute()).toEqual([]);
  });

  it('a late, older opt-in does not undo a newer opt-out; numbers match in their other written forms', async () => {
    const credentials = { account_sid: 'AC1', auth_token: AUTH_TOKEN, from: '+15017122661' };
    // Stored without the +, and with 00: both are the numbers Twilio writes as +1555867532x.
    const seeded = await seedSentRun('SMSChannel', 'twilio', credentials, ['15558675321', '0015558675322']);
    const url = `${publicUrl}/callbacks/${seeded.connectionId}`;
    const inbound = (from: string, body: string) => {
      const form = new URLSearchParams({ ...fixture<Record<string, string>>('twilio-inbound-sms.json'), From: from, Body: body });
      return post(seeded.connectionId, form.toString(), {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature(AUTH_TOKEN, url, form),
      });
    };
    const state = async () =>
      (await db().selectFrom('contacts').select(['user_id', 'opt_out_reason']).where('bot_id', '=', seeded.botId).orderBy('user_id').execute()).map(
        (c) => `${c.user_id}: ${c.opt_out_reason ?? 'in'}`,
      );
    expect((await inbound('+15558675321', 'STOP')).status).toBe(200);
    expect((await inbound('+15558675322', 'Stop.')).status).toBe(200);
    expect(await state()).toEqual(['0015558675322: replied STOP. (SMS)', '15558675321: replied STOP (SMS)']);

    // A START from before the STOP (a provider's retry, hours late) changes nothing…
    const { applyOptOutSignals } = await import('@herald/db');
    const hourAgo = new Date(Date.now() - 3_600_000);
    expect(
      await applyOptOutSignals(db(), [
        { connectionId: seeded.connectionId, address: '+15558675321', optOut: false, reason: 'replied START (SMS)', at: hourAgo },
      ]),
    ).toEqual({
      optedOut: 0,
      optedIn: 0,
    });
    expect(await state()).toEqual(['0015558675322: replied STOP. (SMS)', '15558675321: replied STOP (SMS)']);
    // …a newer one opts back in.
    expect((await inbound('+15558675321', 'START')).status).toBe(200);
    expect(await state()).toEqual(['0015558675322: replied STOP. (SMS)', '15558675321: in']);
  });

  it('any order of the same statuses, each sent three times in concurrent calls, ends in the same states and exact run counts', async () => {
    const credentials = { access_token: 'x', phone_number_id: '106540352242922', app_secret: APP_SECRET };
    const users = Array.from({ length: 40 }, (_, i) => `3933300${String(i).padStart(5, '0')}`);
    const seeded = await seedSentRun('WhatsAppChannel', 'whatsapp_cloud', credentials, users, (i) => `wamid.order-${i}-${Date.now()}`);
    const random = seededRandom(12);
    // Each message gets some of: sent (t+5, Meta's own "sent": no change), delivered (t+10),
    // failed (t+15), read (t+20) — read before delivered, failed after sent, failed after
    // delivered, failed alone, read alone, nothing.
    const t = 1_750_000_000;
    const offsets = { sent: 5, delivered: 10, failed: 15, read: 20 } as const;
    const patterns: Array<Array<keyof typeof offsets>> = [
      ['delivered'],
      ['read'],
      ['sent', 'failed'],
      ['read', 'delivered'],
      ['delivered', 'failed'],
      ['failed', 'read'],
      [],
    ];
    const events: Array<{ id: string; file: string; at: number; event?: ReceiptEvent }> = [];
    seeded.deliveries.forEach((delivery, i) => {
      for (const kind of patterns[i % patterns.length]!) {
        const at = t + offsets[kind] + i;
        const file = {
          sent: 'whatsapp-status-sent-v24.json',
          delivered: 'whatsapp-status-delivered.json',
          failed: 'whatsapp-status-failed.json',
          read: 'whatsapp-status-read.json',
        }[kind];
        const event: ReceiptEvent | undefined =
          kind === 'sent' ? undefined : kind === 'failed' ? { kind, at: new Date(at * 1000), code: '131049', message: 'x' } : { kind, at: new Date(at * 1000) };
        events.push({ id: delivery.providerMessageId, file, at, ...(event ? { event } : {}) });
      }
    });
    // Fisher–Yates over three copies of every event: repeats arrive anywhere, in any order.
    const calls = [...events, ...events, ...events];
    for (let i = calls.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [calls[i], calls[j]] = [calls[j]!, calls[i]!];
    }
    const answers = await Promise.all(
      calls.map(({ id, file, at }) => {
        const body = whatsappStatus(file, id, at);
        return post(seeded.connectionId, body, metaSigned(body)).then((r) => r.status);
      }),
    );
    expect(answers.every((status) => status === 200)).toBe(true);

    // The model: core's order-free merge over the same events, once each.
    const expected = new Map<string, ReceiptState>();
    for (const { id, event } of events) if (event) expected.set(id, applyReceipt(expected.get(id) ?? NO_RECEIPTS, event));
    const rows = await deliveryRows(seeded.runId);
    let sent = 0;
    let delivered = 0;
    let read = 0;
    seeded.deliveries.forEach((delivery, i) => {
      const state = expected.get(delivery.providerMessageId) ?? NO_RECEIPTS;
      const status = receiptStatus(state);
      expect({ i, status: rows[i]!.status, delivered_at: rows[i]!.delivered_at, read_at: rows[i]!.read_at }).toEqual({
        i,
        status: status === 'failed' ? 'failed' : 'sent',
        delivered_at: state.deliveredAt,
        read_at: state.readAt,
      });
      if (status !== 'failed') sent++;
      if (state.deliveredAt) delivered++;
      if (state.readAt) read++;
    });
    expect(await runCounts(seeded.runId)).toEqual({ targeted: 40, sent, failed: 40 - sent, skipped: 0, delivered, read });
    // By hand: patterns 0–4 come 6 times, 5–6 five times. Failed: only "sent, failed" (6);
    // delivered: every pattern with a delivery or a read (6+6+6+6+5); read: 6+6+5.
    expect({ sent, delivered, read }).toEqual({ sent: 34, delivered: 29, read: 17 });
  });

  describe('Twilio', () => {
    it('records status callbacks and opts out on STOP, back in on START; a forged signature changes nothing', async () => {
      const credentials = { account_sid: 'AC1', auth_token: AUTH_TOKEN, from: '+15017122661' };
      const seeded = await seedSentRun('SMSChannel', 'twilio', credentials, ['+15558675310', '+15558675311'], (i) => `SM${i}${Date.now()}`);
      const url = `${publicUrl}/callbacks/${seeded.connectionId}`;
      const signed = (params: Record<string, string>, token = AUTH_TOKEN) => {
        const form = new URLSearchParams(params);
        return {
          body: form.toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(token, url, form) },
        };
      };
      const contactState = async () =>
        db().selectFrom('contacts').select(['user_id', 'opted_out_at', 'opt_out_reason']).where('bot_id', '=', seeded.botId).orderBy('user_id').execute();

      const stop = { ...fixture<Record<string, string>>('twilio-inbound-stop.json'), From: '+15558675310' };
      const before = await snapshot();
      const forged = signed(stop, 'not-the-auth-token');
      expect((await post(seeded.connectionId, forged.body, forged.headers)).status).toBe(401);
      expect(await snapshot()).toEqual(before);

      const real = signed(stop);
      const answer = await post(seeded.connectionId, real.body, real.headers);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toContain('text/xml');
      expect((await contactState())[0]).toMatchObject({ user_id: '+15558675310', opt_out_reason: 'replied STOP (SMS)', opted_out_at: expect.any(Date) });
      expect((await contactState())[1]!.opted_out_at).toBeNull();

      // A keyword alone, with no Advanced Opt-Out field, as carriers read it.
      const start = signed({ ...fixture<Record<string, string>>('twilio-inbound-sms.json'), From: '+15558675310', Body: 'start' });
      expect((await post(seeded.connectionId, start.body, start.headers)).status).toBe(200);
      expect((await contactState())[0]!.opted_out_at).toBeNull();
      const chat = signed({ ...fixture<Record<string, string>>('twilio-inbound-sms.json'), From: '+15558675311', Body: 'please stop by later' });
      expect((await post(seeded.connectionId, chat.body, chat.headers)).status).toBe(200);
      expect((await contactState())[1]!.opted_out_at).toBeNull();

      const [first, second] = seeded.deliveries;
      for (const params of [
        { ...fixture<Record<string, string>>('twilio-status-sent.json'), MessageSid: first!.providerMessageId, SmsSid: first!.providerMessageId },
        { ...fixture<Record<string, string>>('twilio-status-delivered.json'), MessageSid: first!.providerMessageId, SmsSid: first!.providerMessageId },
        { ...fixture<Record<string, string>>('twilio-status-undelivered.json'), MessageSid: second!.providerMessageId, SmsSid: second!.providerMessageId },
      ]) {
        const call = signed(params);
        expect((await post(seeded.connectionId, call.body, call.headers)).status).toBe(200);
      }
      const rows = await deliveryRows(seeded.runId);
      expect(rows[0]).toMatchObject({ status: 'sent', delivered_at: expect.any(Date) });
      expect(rows[1]).toMatchObject({ status: 'failed', reason: 'undelivered', error_code: '30003', delivered_at: null });
      expect(await runCounts(seeded.runId)).toEqual({ targeted: 2, sent: 1, failed: 1, skipped: 0, delivered: 1, read: 0 });
    });
  });

  it('Twilio without PUBLIC_URL on the ingress: the URL is rebuilt from the request it got', async () => {
    const app = createApp({
      logger: testLogger('ingress'),
      checks: {},
      metrics: createMetricsRegistry('callbacks-test'),
      hooks: { deps: undefined as never, trustedProxies: null, bodyLimitBytes: 1024 * 1024 },
      callbacks: { db: db(), secrets: TEST_SECRETS, publicUrl: undefined, bodyLimitBytes: 1024 * 1024 },
    });
    const served = await serveApp(app);
    try {
      const seeded = await seedSentRun('SMSChannel', 'twilio', { account_sid: 'AC1', auth_token: AUTH_TOKEN }, ['+15558675320'], () => `SMhost${Date.now()}`);
      const params = { ...fixture<Record<string, string>>('twilio-status-delivered.json'), MessageSid: seeded.deliveries[0]!.providerMessageId };
      const form = new URLSearchParams(params);
      const signedOver = (url: string) => ({
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature(AUTH_TOKEN, url, form),
      });
      const url = `${served.url}/callbacks/${seeded.connectionId}`;
      const wrong = await post(seeded.connectionId, form.toString(), signedOver(url.replace('http:', 'https:')), served.url);
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: { message: string } }).error.message).toContain(`over ${url}`);
      expect((await post(seeded.connectionId, form.toString(), signedOver(url), served.url)).status).toBe(200);
      expect((await deliveryRows(seeded.runId))[0]!.delivered_at).not.toBeNull();
    } finally {
      await served.close();
    }
  });

  it('Messenger: deliveries by message id, reads by watermark', async () => {
    const seeded = await seedSentRun(
      'FacebookChannel',
      'messenger',
      { page_access_token: 'x', app_secret: APP_SECRET },
      ['psid-1', 'psid-2'],
      (i) => `m_test-${i}-${Date.now()}`,
    );
    const [one, two] = seeded.deliveries;
    const delivery = fixture<{ entry: Array<{ messaging: Array<{ sender: { id: string }; delivery: { mids: string[]; watermark: number } }> }> }>(
      'messenger-envelope-message-deliveries.json',
    );
    const event = delivery.entry[0]!.messaging[0]!;
    event.sender.id = 'psid-1';
    event.delivery.mids = [one!.providerMessageId];
    event.delivery.watermark = Date.now();
    const read = {
      object: 'page',
      entry: [
        {
          id: 'PAGE',
          time: Date.now(),
          messaging: [{ ...fixture('messenger-message-reads.json'), sender: { id: 'psid-2' }, read: { watermark: Date.now() } }],
        },
      ],
    };
    for (const body of [JSON.stringify(delivery), JSON.stringify(read)]) expect((await post(seeded.connectionId, body, metaSigned(body))).status).toBe(200);
    const rows = await deliveryRows(seeded.runId);
    expect(rows.find((r) => r.id === one!.id)).toMatchObject({ delivered_at: expect.any(Date), read_at: null });
    expect(rows.find((r) => r.id === two!.id)).toMatchObject({ delivered_at: expect.any(Date), read_at: expect.any(Date) });
    expect(await runCounts(seeded.runId)).toMatchObject({ delivered: 2, read: 1 });
    // A watermark that covers no broadcast message is normal, and never parked.
    expect(await db().selectFrom('pending_receipts').select('id').where('connection_id', '=', seeded.connectionId).execute()).toEqual([]);
  });

  it('RBM: the webhook verification, delivered and read events for our messageId, UNSUBSCRIBE opts out', async () => {
    const seeded = await seedSentRun(
      'RCSChannel',
      'google_rbm',
      { service_account_json: '{}', agent_id: 'AGENT_ID', client_token: CLIENT_TOKEN },
      ['+15550001111'],
      () => '6f1c2d7e-0000-5000-8000-000000000001',
    );
    const verification = fixtureText('rbm-webhook-verification.json');
    const verified = await post(seeded.connectionId, verification, { 'content-type': 'application/json' });
    expect(verified.status).toBe(200);
    expect(await verified.text()).toBe('1234567890');

    const envelope = (event: Record<string, unknown>, token = CLIENT_TOKEN) => {
      const data = Buffer.from(JSON.stringify(event));
      const body = JSON.stringify({
        ...fixture('rbm-pubsub-envelope-delivered.json'),
        message: { data: data.toString('base64'), messageId: '1', publishTime: '2025-03-05T18:50:21.88Z' },
      });
      return { body, headers: { 'content-type': 'application/json', 'x-goog-signature': createHmac('sha512', token).update(data).digest('base64') } };
    };
    const ours = { messageId: seeded.deliveries[0]!.providerMessageId, senderPhoneNumber: '+15550001111' };
    const forged = envelope({ ...fixture('rbm-event-read.json'), ...ours }, 'wrong-token');
    const before = await snapshot();
    expect((await post(seeded.connectionId, forged.body, forged.headers)).status).toBe(401);
    expect(await snapshot()).toEqual(before);
    for (const file of ['rbm-event-read.json', 'rbm-event-delivered.json', 'rbm-event-unsubscribe.json']) {
      const call = envelope({ ...fixture(file), ...ours });
      expect((await post(seeded.connectionId, call.body, call.headers)).status).toBe(200);
    }
    expect((await deliveryRows(seeded.runId))[0]).toMatchObject({
      delivered_at: new Date('2018-12-31T15:01:23.045Z'),
      read_at: new Date('2018-12-31T15:01:23.045Z'),
    });
    const contact = await db().selectFrom('contacts').select(['opt_out_reason']).where('bot_id', '=', seeded.botId).executeTakeFirstOrThrow();
    expect(contact.opt_out_reason).toBe('unsubscribed (RCS)');
  });

  it('custom: signed reports by delivery id; another bot’s delivery is never touched', async () => {
    const seeded = await seedSentRun('CustomChannel', 'custom', { secret: CUSTOM_SECRET }, ['u-1', 'u-2']);
    const other = await seedSentRun('CustomChannel', 'custom', { secret: 'other-secret' }, ['u-9']);
    const signed = (report: unknown, secret = CUSTOM_SECRET) => {
      const body = JSON.stringify(report);
      return {
        body,
        headers: { 'content-type': 'application/json', 'x-herald-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
      };
    };
    const reports = signed([
      { delivery_id: seeded.deliveries[0]!.id, status: 'read', at: '2026-11-27T10:00:00Z' },
      { delivery_id: Number(seeded.deliveries[1]!.id), status: 'failed', error: { code: 'mailbox_full', message: 'the inbox is full' } },
      { delivery_id: other.deliveries[0]!.id, status: 'delivered' },
    ]);
    expect((await post(seeded.connectionId, reports.body, reports.headers)).status).toBe(200);
    const rows = await deliveryRows(seeded.runId);
    expect(rows[0]).toMatchObject({ status: 'sent', read_at: new Date('2026-11-27T10:00:00Z'), delivered_at: new Date('2026-11-27T10:00:00Z') });
    expect(rows[1]).toMatchObject({ status: 'failed', reason: 'undelivered', error_code: 'mailbox_full', last_error: 'the inbox is full' });
    expect((await deliveryRows(other.runId))[0]).toMatchObject({ delivered_at: null });

    const bad = signed({ delivery_id: 'x', status: 'delivered' });
    expect((await post(seeded.connectionId, bad.body, bad.headers)).status).toBe(400);
    // A date JavaScript reads but Postgres cannot store is refused alone, not with its batch.
    const farPast = signed({ delivery_id: seeded.deliveries[0]!.id, status: 'delivered', at: '-271821-04-20T00:00:00Z' });
    expect((await post(seeded.connectionId, farPast.body, farPast.headers)).status).toBe(400);
    // Text Postgres cannot store (NUL, a lone surrogate) is cleaned, not a 500 for the batch.
    const odd = signed({ delivery_id: other.deliveries[0]!.id, status: 'failed', error: { code: 'x\u0000', message: 'bad \ud800 text' } }, 'other-secret');
    expect((await post(other.connectionId, odd.body, odd.headers)).status).toBe(200);
    expect((await deliveryRows(other.runId))[0]).toMatchObject({ error_code: 'x', last_error: 'bad \ufffd text' });
    const forged = signed({ delivery_id: seeded.deliveries[0]!.id, status: 'failed' }, 'guess');
    expect((await post(seeded.connectionId, forged.body, forged.headers)).status).toBe(401);
  });

  it('Telegram: a block (my_chat_member kicked) opts the chat out, verified by the secret token', async () => {
    const seeded = await seedSentRun('TelegramChannel', 'telegram', { bot_token: '1:x', webhook_secret: TELEGRAM_SECRET }, ['123456789']);
    const body = fixtureText('telegram-my-chat-member-kicked.json');
    expect((await post(seeded.connectionId, body, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'guess' })).status).toBe(401);
    expect((await post(seeded.connectionId, body, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': TELEGRAM_SECRET })).status).toBe(
      200,
    );
    const contact = await db().selectFrom('contacts').select(['opt_out_reason', 'opted_out_at']).where('bot_id', '=', seeded.botId).executeTakeFirstOrThrow();
    expect(contact).toEqual({ opt_out_reason: 'blocked the bot (Telegram)', opted_out_at: new Date(1700000000_000) });
  });

  it('parks a receipt that beats the record of its send, and the reconciler applies it once the send is recorded', async () => {
    const credentials = { access_token: 'x', phone_number_id: '106540352242922', app_secret: APP_SECRET };
    const seeded = await seedSentRun('WhatsAppChannel', 'whatsapp_cloud', credentials, ['16505550101'], () => `wamid.early-${Date.now()}`);
    const early = seeded.deliveries[0]!;
    // As if the worker had not recorded the send yet: no mapping, still being sent.
    await db().deleteFrom('provider_messages').where('connection_id', '=', seeded.connectionId).execute();
    await db().updateTable('deliveries').set({ status: 'queued', sent_at: null }).where('id', '=', early.id).execute();
    await db().updateTable('runs').set({ sent: 0 }).where('id', '=', seeded.runId).execute();

    const body = whatsappStatus('whatsapp-status-delivered.json', early.providerMessageId, 1750263773);
    expect((await post(seeded.connectionId, body, metaSigned(body))).status).toBe(200);
    expect(await db().selectFrom('pending_receipts').select(['provider_message_id']).where('connection_id', '=', seeded.connectionId).execute()).toEqual([
      { provider_message_id: early.providerMessageId },
    ]);
    expect(await applyPendingReceipts(db())).toEqual({ applied: 0, dropped: 0 });

    await db().updateTable('deliveries').set({ status: 'sent', sent_at: new Date() }).where('id', '=', early.id).execute();
    await db().updateTable('runs').set({ sent: 1 }).where('id', '=', seeded.runId).execute();
    await db()
      .insertInto('provider_messages')
      .values({ connection_id: seeded.connectionId, provider_message_id: early.providerMessageId, delivery_id: early.id })
      .execute();
    expect(await applyPendingReceipts(db())).toEqual({ applied: 1, dropped: 0 });
    expect((await deliveryRows(seeded.runId))[0]).toMatchObject({ delivered_at: new Date(1750263773_000) });
    expect(await runCounts(seeded.runId)).toMatchObject({ sent: 1, delivered: 1 });
    expect(await db().selectFrom('pending_receipts').select('id').where('connection_id', '=', seeded.connectionId).execute()).toEqual([]);
  });

  it('405 with Allow for a method the provider does not call with, before reading anything', async () => {
    const seeded = await seedSentRun('SMSChannel', 'twilio', { account_sid: 'AC1', auth_token: AUTH_TOKEN }, ['+15558675399']);
    const response = await fetch(`${publicUrl}/callbacks/${seeded.connectionId}`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('404 for an unknown connection, a malformed id, and the web channel (nothing calls back)', async () => {
    const bot = await createBotRow(db());
    const web = await upsertChannelConnection(db(), TEST_SECRETS, {
      botId: bot.id,
      channel: 'WebChannel',
      provider: 'web',
      credentials: {},
      baseUrl: null,
      rateLimitPerSecond: null,
    });
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', web.id]) {
      const response = await post(id, '{}', { 'content-type': 'application/json' });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });
});
