import { DEFAULT_RATE_PER_SECOND, type ChannelName } from '@herald/core';
import { Registry } from 'prom-client';
import { findRun, setContactOptOut, toJson, upsertChannelConnection, upsertContacts, type Db } from '@herald/db';
import {
  capturingLogger,
  contactUpsert,
  createBotRow,
  createBroadcastRow,
  createTriggerRow,
  fakeAnswers,
  fakeErrors,
  TEST_SECRETS,
  useFakeProviders,
  waitFor,
} from '@herald/testing';
import { useInProcessWorkers } from '../testing/in-process-workers';

/**
 * The delivery stage end to end inside one process: real Postgres, Redis and BullMQ workers
 * (dispatch and delivery), providers faked on loopback by their own protocols.
 */
describe('delivery (real Postgres, Redis, workers; fake providers over HTTP)', () => {
  // Every line the workers log, to check what they carry (and what they must never carry).
  const { logger, lines: logLines } = capturingLogger('worker-test');
  const metrics = new Registry();
  const running = useInProcessWorkers({ concurrency: 4, ctx: { logger }, delivery: { metrics } });
  const { database } = running;
  const fakes = useFakeProviders();

  const db = (): Db => database.current.db;

  it('sends on every channel, renders each contact, and counts a mixed run exactly', async () => {
    const bot = await createBotRow(db());
    for (const provider of ['whatsapp_cloud', 'twilio', 'telegram', 'custom'] as const) {
      await connect(bot.id, channelOf[provider], provider);
    }
    await upsertContacts(db(), bot.id, [
      contactUpsert('WhatsAppChannel', '393331111111', { first_name: 'Ada' }),
      contactUpsert('SMSChannel', '+15005550006', { first_name: 'Linus' }),
      contactUpsert('SMSChannel', '+15005550001', { first_name: 'Bad' }), // scripted below: invalid number
      contactUpsert('TelegramChannel', '4242', { first_name: 'Grace', variables: { order: { items: [{ sku: 'A-17' }] } } }),
      contactUpsert('CustomChannel', 'u-1', { first_name: 'Alan' }),
      contactUpsert('FacebookChannel', 'psid-1', { first_name: 'NoConnection' }),
    ]);
    fakes.current.script('twilio', fakeAnswers.success, fakeErrors.twilio.invalidTo);
    const broadcast = await createBroadcastRow(db(), bot.id, { text: 'Hi {{first_name}} {{order.items[0].sku}}', delay_ms: 0 });

    const run = await dispatchAndWait(broadcast.id);

    expect(run.status).toBe('completed');
    expect({ targeted: run.targeted, sent: run.sent, failed: run.failed, skipped: run.skipped }).toEqual({
      targeted: 6,
      sent: 4,
      failed: 1,
      skipped: 1,
    });
    expect(run.finished_at).not.toBeNull();
    const rows = await deliveriesOf(run.id);
    expect(countBy(rows, (d) => d.status)).toEqual({ sent: 4, failed: 1, skipped: 1 });
    expect(rows.find((d) => d.channel === 'FacebookChannel')).toMatchObject({ status: 'skipped', reason: 'no_channel_connection' });
    expect(rows.find((d) => d.status === 'failed')).toMatchObject({ reason: 'provider_rejected', error_code: '21211', attempts: 1 });
    const sent = rows.filter((d) => d.status === 'sent');
    expect(sent.every((d) => d.sent_at !== null)).toBe(true);
    // Every provider gives a message id (the custom receiver answers its own `id`). Those whose
    // receipts name messages by it are kept per connection: not Telegram's (no receipts, ids
    // unique only within a chat) nor a custom endpoint's (it reports Herald's delivery id).
    expect(sent.filter((d) => d.provider_message_id === null)).toEqual([]);
    expect(sent.find((d) => d.channel === 'CustomChannel')!.provider_message_id).toBe(`custom-${sent.find((d) => d.channel === 'CustomChannel')!.id}`);
    const mapped = await db()
      .selectFrom('provider_messages')
      .innerJoin('channel_connections', 'channel_connections.id', 'provider_messages.connection_id')
      .select(['provider_messages.delivery_id', 'provider_messages.provider_message_id', 'channel_connections.channel'])
      .where(
        'provider_messages.delivery_id',
        'in',
        sent.map((d) => d.id),
      )
      .execute();
    expect(mapped.map((m) => m.channel).sort()).toEqual(['SMSChannel', 'WhatsAppChannel']);
    for (const m of mapped) expect(m.provider_message_id).toBe(sent.find((d) => d.id === m.delivery_id)!.provider_message_id);

    const telegram = fakes.current.requestsOf('telegram');
    expect(telegram).toHaveLength(1);
    expect(telegram[0]!.json).toMatchObject({ chat_id: '4242', text: 'Hi Grace A-17' });
    expect(fakes.current.requestsOf('whatsapp_cloud')[0]!.json).toMatchObject({ to: '393331111111', text: { body: 'Hi Ada ' } });
    const custom = fakes.current.requestsOf('custom')[0]!;
    expect(custom.headers['idempotency-key']).toBe(rows.find((d) => d.channel === 'CustomChannel')!.id);
    expect(custom.json).toMatchObject({ run_id: run.id, broadcast_id: broadcast.id, bot_id: bot.id, text: 'Hi Alan ' });
  });

  it('retries a 503 twice and records the send of the third attempt', async () => {
    const { broadcast } = await oneContactBroadcast('custom', 'CustomChannel');
    fakes.current.script('custom', fakeAnswers.serverError(503), fakeAnswers.serverError(503));
    const run = await dispatchAndWait(broadcast.id);
    const [delivery] = await deliveriesOf(run.id);
    expect(delivery).toMatchObject({ status: 'sent', attempts: 3 });
    expect(fakes.current.requestsOf('custom')).toHaveLength(3);
    expect(run.sent).toBe(1);
  });

  it('waits at least the Retry-After of a 429 before trying again', async () => {
    const { broadcast } = await oneContactBroadcast('custom', 'CustomChannel');
    fakes.current.script('custom', fakeAnswers.rateLimit(2));
    const run = await dispatchAndWait(broadcast.id);
    const [first, second] = fakes.current.requestsOf('custom');
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(2_000);
    expect(run.sent).toBe(1);
  });

  it("honours Telegram's retry_after in the 429 body", async () => {
    const { broadcast } = await oneContactBroadcast('telegram', 'TelegramChannel');
    fakes.current.script('telegram', fakeAnswers.rateLimit(1));
    const run = await dispatchAndWait(broadcast.id);
    const [first, second] = fakes.current.requestsOf('telegram');
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(1_000);
    expect((await deliveriesOf(run.id))[0]).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('fails a 400 at once, keeping the provider message', async () => {
    const { broadcast } = await oneContactBroadcast('telegram', 'TelegramChannel');
    fakes.current.setDefault('telegram', fakeErrors.telegram.chatNotFound);
    const run = await dispatchAndWait(broadcast.id);
    expect((await deliveriesOf(run.id))[0]).toMatchObject({
      status: 'failed',
      reason: 'provider_rejected',
      attempts: 1,
      last_error: expect.stringContaining('chat not found'),
    });
    expect(fakes.current.requestsOf('telegram')).toHaveLength(1);
  });

  it('opts out a contact who blocked the bot: that send fails, later runs skip them (opted_out)', async () => {
    const { bot, broadcast } = await oneContactBroadcast('telegram', 'TelegramChannel');
    fakes.current.setDefault('telegram', fakeErrors.telegram.blocked);
    const run = await dispatchAndWait(broadcast.id);
    const [refused] = await deliveriesOf(run.id);
    expect(refused).toMatchObject({ status: 'failed', reason: 'provider_rejected', error_code: 'http_403' });
    const contact = await db()
      .selectFrom('contacts')
      .select(['opted_out_at', 'opt_out_reason'])
      .where('id', '=', refused!.contact_id)
      .executeTakeFirstOrThrow();
    expect(contact).toEqual({ opted_out_at: expect.any(Date), opt_out_reason: 'blocked the bot (Telegram 403)' });

    const later = await createBroadcastRow(db(), bot.id, { delay_ms: 0 });
    const next = await dispatchAndWait(later.id);
    expect((await deliveriesOf(next.id))[0]).toMatchObject({ status: 'skipped', reason: 'opted_out', attempts: 1 });
    expect(fakes.current.requestsOf('telegram')).toHaveLength(1); // the refused send only
  });

  it('fails a delivery after its last attempt with the last error', async () => {
    const { broadcast } = await oneContactBroadcast('custom', 'CustomChannel');
    fakes.current.setDefault('custom', fakeAnswers.serverError(502));
    const run = await dispatchAndWait(broadcast.id, 30_000);
    expect((await deliveriesOf(run.id))[0]).toMatchObject({ status: 'failed', reason: 'retries_exhausted', attempts: 5, error_code: 'http_502' });
    expect(fakes.current.requestsOf('custom')).toHaveLength(5);
    expect(run.status).toBe('completed');
  });

  it('stops a connection whose credentials are refused and shows the fault on it', async () => {
    const bot = await createBotRow(db());
    const connection = await connect(bot.id, 'TelegramChannel', 'telegram', { bot_token: '123:wrong' }, 5);
    await upsertContacts(
      db(),
      bot.id,
      range(30).map((i) => contactUpsert('TelegramChannel', String(1000 + i))),
    );
    const broadcast = await createBroadcastRow(db(), bot.id, { delay_ms: 0 });
    const run = await dispatchAndWait(broadcast.id);
    expect(run.failed).toBe(30);
    const rows = await deliveriesOf(run.id);
    expect(rows.every((d) => d.reason === 'connection_unauthorized')).toBe(true);
    // Only the sends in flight when the first refusal came back were tried.
    expect(fakes.current.requestsOf('telegram').length).toBeLessThanOrEqual(10);
    const saved = await db().selectFrom('channel_connections').selectAll().where('id', '=', connection.id).executeTakeFirstOrThrow();
    expect(saved.fault_code).toBe('http_401');
    expect(saved.fault_at).not.toBeNull();
    // The logs name the run and the deliveries, never the token (it travels in Telegram's
    // URL path) nor the message text.
    const lines = logLines.filter((line) => line.includes(run.id));
    expect(lines.some((line) => line.includes('connection refused by its provider'))).toBe(true);
    expect(lines.some((line) => line.includes('"deliveryId"'))).toBe(true);
    expect(logLines.join('\n')).not.toContain('123:wrong');
    expect(logLines.join('\n')).not.toContain('Hello');
  });

  it('refuses a base_url on loopback unless allowed, and never follows a redirect', async () => {
    // This worker allows 127.0.0.0/8 (the fakes live there); "localhost" stays denied by name.
    const refused = await oneContactBroadcast('custom', 'CustomChannel', { baseUrl: fakes.current.baseUrl.replace('127.0.0.1', 'localhost') + '/custom/x' });
    const run = await dispatchAndWait(refused.broadcast.id);
    expect((await deliveriesOf(run.id))[0]).toMatchObject({ status: 'failed', reason: 'connection_unauthorized', error_code: 'destination_refused' });
    expect(fakes.current.requests).toHaveLength(0);

    const redirected = await oneContactBroadcast('custom', 'CustomChannel');
    fakes.current.setDefault('custom', fakeAnswers.redirect(`${fakes.current.baseUrl}/custom/elsewhere`));
    const second = await dispatchAndWait(redirected.broadcast.id);
    expect((await deliveriesOf(second.id))[0]).toMatchObject({ status: 'failed', error_code: 'redirect_refused' });
    expect(fakes.current.requests.map((r) => r.path)).not.toContain('/custom/elsewhere');
  });

  it('puts web chat messages in the contact outbox, once', async () => {
    const bot = await createBotRow(db());
    await connect(bot.id, 'WebChannel', 'web');
    await upsertContacts(db(), bot.id, [contactUpsert('WebChannel', 'w-1', { first_name: 'Web' }), contactUpsert('WebChannel', 'w-2')]);
    const broadcast = await createBroadcastRow(db(), bot.id, { text: '{{first_name}}', delay_ms: 0 });
    const run = await dispatchAndWait(broadcast.id);
    expect({ sent: run.sent, skipped: run.skipped }).toEqual({ sent: 1, skipped: 1 }); // w-2 renders empty
    const outbox = await db().selectFrom('web_outbox').selectAll().execute();
    expect(outbox.map((m) => m.text)).toEqual(['Web']);
    expect((await deliveriesOf(run.id)).find((d) => d.status === 'skipped')).toMatchObject({ reason: 'empty_message' });
  });

  it('skips opted-out contacts (opted_out) and sends to the others, on a provider and in the web outbox', async () => {
    const bot = await createBotRow(db());
    await connect(bot.id, 'TelegramChannel', 'telegram');
    await connect(bot.id, 'WebChannel', 'web');
    await upsertContacts(db(), bot.id, [
      contactUpsert('TelegramChannel', '1001'),
      contactUpsert('TelegramChannel', '1002'),
      contactUpsert('WebChannel', 'w-in', { first_name: 'Web' }),
      contactUpsert('WebChannel', 'w-out', { first_name: 'Gone' }),
    ]);
    const out = await db().selectFrom('contacts').select('id').where('bot_id', '=', bot.id).where('user_id', 'in', ['1002', 'w-out']).execute();
    for (const { id } of out) expect(await setContactOptOut(db(), bot.id, id, 'STOP')).toMatchObject({ opt_out_reason: 'STOP' });
    const broadcast = await createBroadcastRow(db(), bot.id, { text: 'Hi {{first_name}}', delay_ms: 0 });
    const run = await dispatchAndWait(broadcast.id);

    expect(run).toMatchObject({ status: 'completed', sent: 2, skipped: 2, failed: 0 });
    const deliveries = await db()
      .selectFrom('deliveries')
      .innerJoin('contacts', 'contacts.id', 'deliveries.contact_id')
      .select(['contacts.user_id', 'deliveries.status', 'deliveries.reason'])
      .where('deliveries.run_id', '=', run.id)
      .orderBy('contacts.user_id')
      .execute();
    expect(deliveries).toEqual([
      { user_id: '1001', status: 'sent', reason: null },
      { user_id: '1002', status: 'skipped', reason: 'opted_out' },
      { user_id: 'w-in', status: 'sent', reason: null },
      { user_id: 'w-out', status: 'skipped', reason: 'opted_out' },
    ]);
    expect(fakes.current.requestsOf('telegram')).toHaveLength(1);
    const outbox = await db()
      .selectFrom('web_outbox')
      .innerJoin('contacts', 'contacts.id', 'web_outbox.contact_id')
      .select('web_outbox.text')
      .where('contacts.bot_id', '=', bot.id)
      .execute();
    expect(outbox.map((m) => m.text)).toEqual(['Hi Web']);

    // Opted back in: the next run reaches everyone.
    for (const { id } of out) await setContactOptOut(db(), bot.id, id, null);
    const again = await createBroadcastRow(db(), bot.id, { text: 'Hi again', delay_ms: 0 });
    expect(await dispatchAndWait(again.id)).toMatchObject({ status: 'completed', sent: 4, skipped: 0 });
  });

  it('sends a WhatsApp template with rendered body parameters', async () => {
    const bot = await createBotRow(db());
    await connect(bot.id, 'WhatsAppChannel', 'whatsapp_cloud');
    await upsertContacts(db(), bot.id, [contactUpsert('WhatsAppChannel', '393330000001', { first_name: 'Ada', variables: { order: 'A-17' } })]);
    const broadcast = await createBroadcastRow(db(), bot.id, { delay_ms: 0 });
    await db()
      .updateTable('broadcasts')
      .set({
        message: toJson({
          text: 'unused',
          channels: { WhatsAppChannel: { template: { name: 'order_update', language: 'it', body_parameters: ['{{first_name}}', '{{order}}'] } } },
        }),
      })
      .where('id', '=', broadcast.id)
      .execute();
    const run = await dispatchAndWait(broadcast.id);
    expect(run.sent).toBe(1);
    expect(fakes.current.requestsOf('whatsapp_cloud')[0]!.json).toMatchObject({
      type: 'template',
      template: {
        name: 'order_update',
        language: { code: 'it' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Ada' },
              { type: 'text', text: 'A-17' },
            ],
          },
        ],
      },
    });
  });

  it('counts deliveries, provider request times and retries in the metrics', async () => {
    const text = await metrics.metrics();
    // Earlier tests of this file sent, failed, skipped and retried on these channels.
    expect(text).toMatch(/herald_deliveries_total\{channel="TelegramChannel",outcome="sent",reason=""\} [1-9]/);
    expect(text).toMatch(/herald_deliveries_total\{channel="SMSChannel",outcome="failed",reason="provider_rejected"\} 1/);
    expect(text).toMatch(/herald_deliveries_total\{channel="FacebookChannel",outcome="skipped",reason="no_channel_connection"\} 1/);
    expect(text).toMatch(/herald_delivery_retries_total\{channel="CustomChannel",code="http_503"\} 2/);
    expect(text).toMatch(/herald_provider_request_duration_seconds_count\{channel="CustomChannel",provider="custom",result="retry"\} [1-9]/);
    // The Telegram connection limited to 5/s made its chunk wait between sends.
    const waited = /herald_throttle_wait_seconds_total\{channel="TelegramChannel"\} ([0-9.e+-]+)/.exec(text);
    expect(Number(waited?.[1])).toBeGreaterThan(0);
  });

  it('fails the deliveries of a message saved before templates were checked, naming the fault', async () => {
    const { broadcast } = await oneContactBroadcast('custom', 'CustomChannel');
    await db()
      .updateTable('broadcasts')
      .set({ message: toJson({ text: 'Hi {{first_name' }) })
      .where('id', '=', broadcast.id)
      .execute();
    const run = await dispatchAndWait(broadcast.id);
    expect(run).toMatchObject({ status: 'completed', failed: 1 });
    expect((await deliveriesOf(run.id))[0]).toMatchObject({ status: 'failed', reason: 'template_invalid', last_error: expect.stringContaining('at 3') });
    expect(fakes.current.requests).toHaveLength(0);
  });

  it('uses the provider default rate when a connection sets none', () => {
    expect(DEFAULT_RATE_PER_SECOND['whatsapp_cloud']).toBe(80);
    expect(DEFAULT_RATE_PER_SECOND['twilio']).toBe(1);
  });

  // Helpers

  const channelOf = { whatsapp_cloud: 'WhatsAppChannel', twilio: 'SMSChannel', telegram: 'TelegramChannel', custom: 'CustomChannel' } as const;

  async function connect(
    botId: string,
    channel: ChannelName,
    provider: string,
    credentials?: Record<string, string>,
    rate: number | null = null,
    baseUrl?: string,
  ) {
    const target = provider === 'web' ? { baseUrl: null, credentials: {} } : fakes.current.connectionFor(provider as 'custom');
    return upsertChannelConnection(db(), TEST_SECRETS, {
      botId,
      channel,
      provider,
      credentials: credentials ?? target.credentials,
      baseUrl: baseUrl ?? target.baseUrl,
      rateLimitPerSecond: rate,
    });
  }

  async function oneContactBroadcast(provider: 'custom' | 'telegram', channel: ChannelName, options: { baseUrl?: string } = {}) {
    const bot = await createBotRow(db());
    await connect(bot.id, channel, provider, undefined, null, options.baseUrl);
    await upsertContacts(db(), bot.id, [contactUpsert(channel, '777', { first_name: 'One' })]);
    const broadcast = await createBroadcastRow(db(), bot.id, { delay_ms: 0 });
    return { bot, broadcast };
  }

  async function dispatchAndWait(broadcastId: string, timeoutMs = 15_000) {
    await createTriggerRow(db(), broadcastId);
    await running.producer.armTimer('broadcast.dispatch', { broadcastId }, 0);
    const runId = await waitFor(async () => (await db().selectFrom('runs').select('id').where('broadcast_id', '=', broadcastId).executeTakeFirst())?.id, {
      what: 'the run',
    });
    return waitFor(
      async () => {
        const run = await findRun(db(), runId);
        return run && ['completed', 'cancelled', 'failed'].includes(run.status) ? run : undefined;
      },
      { timeoutMs, what: 'the run to finish' },
    );
  }

  async function deliveriesOf(runId: string) {
    return db().selectFrom('deliveries').selectAll().where('run_id', '=', runId).orderBy('id').execute();
  }
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
