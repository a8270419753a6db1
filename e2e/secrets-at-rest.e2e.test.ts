import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { isSealedSecret, secretKeyId } from '@herald/db';
import {
  fakeAnswers,
  freePort,
  PORT_VARIABLE,
  REPO_ROOT,
  startProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useFakeProviders,
  useTestDatabase,
  waitFor,
  waitForHttp,
  type HeraldService,
  type StartedProcess,
} from '@herald/testing';

/**
 * Secrets at rest and in logs (issue 13), on the built processes at the most verbose log level:
 * a bot, four channel connections with credentials, a broadcast behind the bot's API token, a
 * hook call, deliveries to the fake providers (one retried after a provider error), providers'
 * callbacks (valid, forged and a handshake), a hook rotation. Then every line the three
 * processes wrote, every answer of the admin API and the ingress (but the three that hand a
 * secret out once: bot creation, broadcast creation, hook rotation) and every row of every
 * table and every key under the queue prefix are searched for each secret: the hook tokens,
 * each credential secret, the bot's API token, the admin key and HERALD_SECRET_KEY.
 */

const FIXTURES = join(REPO_ROOT, 'apps', 'ingress', 'src', 'callbacks', 'fixtures');
const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Twilio's X-Twilio-Signature and Meta's X-Hub-Signature-256, from their definitions. */
function signTwilio(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((signed, name) => signed + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}
const hmacSha256 = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;

describe('secrets: never in a log line, an answer or a row in clear', () => {
  const database = useTestDatabase();
  const fakes = useFakeProviders();
  const secretKey = randomBytes(32);
  const adminKey = `e2e-admin-${hex(16)}`;
  const prefix = testQueuePrefix();
  const started: StartedProcess[] = [];
  /** Every process started, kept after they stop: their output is searched. */
  const everyProcess: StartedProcess[] = [];
  /** Every answer body the test got, but the three one-time ones. */
  const answers: string[] = [];
  let ingressUrl = '';
  let adminUrl = '';

  beforeAll(async () => {
    const [ingressPort, adminPort, workerPort] = [await freePort(), await freePort(), await freePort()];
    ingressUrl = `http://127.0.0.1:${ingressPort}`;
    adminUrl = `http://127.0.0.1:${adminPort}`;
    const common = {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug', // the most the schema allows
      HERALD_SECRET_KEY: secretKey.toString('base64'),
    };
    const start = async (app: HeraldService, port: number, env: Record<string, string>) => {
      const process = startProcess(app, { ...common, ...env, [PORT_VARIABLE[app]]: String(port) });
      started.push(process);
      everyProcess.push(process);
      await waitForHttp(process, port, { path: '/readyz', timeoutMs: 45_000 });
    };
    await Promise.all([
      start('ingress', ingressPort, { PUBLIC_URL: ingressUrl }),
      start('worker', workerPort, { OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1', RECONCILE_INTERVAL_MS: '500', DELIVERY_RETRY_BASE_MS: '200' }),
      start('admin', adminPort, { ADMIN_API_KEY: adminKey, PUBLIC_URL: ingressUrl, OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1' }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop('SIGTERM')));
  });

  /** An admin call; its answer is kept for the search unless it is one of the one-time answers. */
  async function admin<T>(method: string, path: string, body?: unknown, { oneTime = false } = {}): Promise<T> {
    const response = await fetch(`${adminUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!oneTime) answers.push(text);
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A call to the ingress (hook or callback); its answer is kept for the search. */
  async function ingress(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
    const response = await fetch(url, init);
    const text = await response.text();
    answers.push(text);
    return { status: response.status, text };
  }

  it('keeps every secret out of the logs, the answers, the database and Redis', async () => {
    // 1. A bot (its API token is shown once) and four connections with credentials.
    const bot = await admin<{ id: string; api_token: string }>('POST', '/v1/bots', { name: 'Secrets bot' }, { oneTime: true });
    const fake = fakes.current;
    const credentials = {
      SMSChannel: { provider: 'twilio', credentials: { ...fake.credentials.twilio } },
      WhatsAppChannel: {
        provider: 'whatsapp_cloud',
        credentials: { ...fake.credentials.whatsapp_cloud, app_secret: `app-${hex(16)}`, verify_token: `verify-${hex(12)}` },
      },
      TelegramChannel: { provider: 'telegram', credentials: { ...fake.credentials.telegram, webhook_secret: `tg-${hex(16)}` } },
      CustomChannel: { provider: 'custom', credentials: { ...fake.credentials.custom } },
    } as const;
    const connections: Record<string, { id: string; callback_url: string }> = {};
    for (const [channel, { provider, credentials: given }] of Object.entries(credentials)) {
      const baseUrl = provider === 'custom' ? fake.connectionFor('custom').baseUrl : fake.baseUrl;
      connections[channel] = await admin('PUT', `/v1/bots/${bot.id}/channels/${channel}`, {
        provider,
        credentials: given,
        base_url: baseUrl,
        rate_limit_per_second: 100,
      });
    }
    await admin('POST', `/v1/bots/${bot.id}/contacts`, {
      contacts: [
        { bot_channel: 'SMSChannel', user_id: '+15550003001', first_name: 'Sam' },
        { bot_channel: 'WhatsAppChannel', user_id: '+15550003002', first_name: 'Wanda' },
        { bot_channel: 'TelegramChannel', user_id: '4242424242', first_name: 'Tim' },
        { bot_channel: 'CustomChannel', user_id: 'custom-user-1', first_name: 'Cas' },
      ],
    });

    // 2. A broadcast whose hook needs the bot's token; its URL is shown once.
    const created = await admin<{ id: string; hook_url: string }>(
      'POST',
      `/v1/bots/${bot.id}/broadcasts`,
      { name: 'Secrets', message: { text: 'Hello {{first_name}}' }, direct_mode: false, delay_ms: 0 },
      { oneTime: true },
    );
    const hookToken = created.hook_url.split('/').pop()!;
    await admin('GET', `/v1/broadcasts/${created.id}`);
    await admin('GET', `/v1/bots/${bot.id}/broadcasts`);
    await admin('PATCH', `/v1/broadcasts/${created.id}`, { name: 'Secrets, renamed' });
    await admin('GET', `/v1/bots/${bot.id}`);
    await admin('GET', `/v1/bots/${bot.id}/channels`);

    // 3. The hook: refused without the bot's token and with a wrong one, accepted with it.
    const hook = `${ingressUrl}/hooks/${hookToken}`;
    const post = (authorization?: string) =>
      ingress(hook, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(authorization ? { Authorization: authorization } : {}) },
        body: '{}',
      });
    expect((await post()).status).toBe(401);
    expect((await post(`Bearer ${bot.api_token}x`)).status).toBe(401);
    fake.script('telegram', fakeAnswers.serverError(500)); // one retried send: its error is logged and kept
    const accepted = await post(`Bearer ${bot.api_token}`);
    expect(accepted.status).toBe(200);
    const triggerId = (JSON.parse(accepted.text) as { trigger_id: string }).trigger_id;

    // 4. The run, delivered to the fakes.
    const runId = await waitFor(async () => (await admin<{ run_id: string | null }>('GET', `/v1/triggers/${triggerId}`)).run_id ?? undefined, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'the trigger to be dispatched',
    });
    const run = await waitFor(
      async () => {
        const now = await admin<{ status: string; counts: Record<string, number> }>('GET', `/v1/runs/${runId}`);
        return now.status === 'completed' ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the run to complete' },
    );
    expect(run.counts).toMatchObject({ targeted: 4, sent: 4, failed: 0, skipped: 0 });
    expect(fake.requestsOf('telegram')).toHaveLength(2);
    const deliveries = await admin<{ data: Array<{ id: string; channel: string; provider_message_id: string | null; user_id: string }> }>(
      'GET',
      `/v1/runs/${runId}/deliveries?limit=100`,
    );
    const sent = (channel: string) => deliveries.data.find((d) => d.channel === channel)!;

    // 5. Callbacks: each provider's, signed with the connection's secret; a forged one; Meta's handshake.
    const twilioUrl = connections['SMSChannel']!.callback_url;
    const twilioStatus = {
      ...fixture<Record<string, string>>('twilio-status-delivered.json'),
      MessageSid: sent('SMSChannel').provider_message_id!,
      AccountSid: credentials.SMSChannel.credentials.account_sid,
    };
    const twilioPost = (signature: string) =>
      ingress(twilioUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature },
        body: new URLSearchParams(twilioStatus).toString(),
      });
    expect((await twilioPost(signTwilio(hex(16), twilioUrl, twilioStatus))).status).toBe(401);
    expect((await twilioPost(signTwilio(credentials.SMSChannel.credentials.auth_token, twilioUrl, twilioStatus))).status).toBe(200);

    const whatsapp = credentials.WhatsAppChannel.credentials;
    const metaUrl = connections['WhatsAppChannel']!.callback_url;
    const challenge = await ingress(
      `${metaUrl}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': whatsapp.verify_token })}`,
    );
    expect(challenge).toEqual({ status: 200, text: '1158201444' });
    const metaBody = fixture<{ entry: Array<{ changes: Array<{ value: { metadata: Record<string, string>; statuses: Array<Record<string, unknown>> } }> }> }>(
      'whatsapp-status-delivered.json',
    );
    const value = metaBody.entry[0]!.changes[0]!.value;
    value.metadata['phone_number_id'] = whatsapp.phone_number_id;
    Object.assign(value.statuses[0]!, {
      id: sent('WhatsAppChannel').provider_message_id,
      recipient_id: '15550003002',
      timestamp: String(Math.floor(Date.now() / 1000)),
    });
    const metaText = JSON.stringify(metaBody);
    expect(
      (
        await ingress(metaUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': hmacSha256(whatsapp.app_secret, metaText) },
          body: metaText,
        })
      ).status,
    ).toBe(200);

    const customBody = JSON.stringify({ delivery_id: sent('CustomChannel').id, status: 'read' });
    const customUrl = connections['CustomChannel']!.callback_url;
    expect(
      (
        await ingress(customUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Herald-Signature': hmacSha256(credentials.CustomChannel.credentials.secret, customBody) },
          body: customBody,
        })
      ).status,
    ).toBe(200);

    const telegram = credentials.TelegramChannel.credentials;
    const kicked = fixture<{ my_chat_member: { chat: { id: number } } }>('telegram-my-chat-member-kicked.json');
    kicked.my_chat_member.chat.id = 4242424242;
    const telegramPost = (secret: string) =>
      ingress(connections['TelegramChannel']!.callback_url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': secret },
        body: JSON.stringify(kicked),
      });
    expect((await telegramPost(`${telegram.webhook_secret}x`)).status).toBe(401);
    expect((await telegramPost(telegram.webhook_secret)).status).toBe(200);

    await waitFor(
      async () => {
        const now = await admin<{ counts: Record<string, number> }>('GET', `/v1/runs/${runId}`);
        return now.counts['delivered'] === 3 && now.counts['read'] === 1 ? now : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the receipts to be applied' },
    );
    await admin('GET', `/v1/runs/${runId}/deliveries?limit=100`);
    await admin('GET', `/v1/bots/${bot.id}/contacts?opted_out=true`);

    // 6. A rotation: the new URL shown once; the old one is refused from then on.
    const rotated = await admin<{ hook_url: string }>('POST', `/v1/broadcasts/${created.id}/rotate-hook`, undefined, { oneTime: true });
    const rotatedToken = rotated.hook_url.split('/').pop()!;
    await waitFor(async () => ((await post(`Bearer ${bot.api_token}`)).status === 404 ? true : undefined), {
      timeoutMs: 5_000,
      what: 'the old hook to answer 404',
    });
    await admin('GET', `/v1/broadcasts/${created.id}`);

    // 7. The processes stop (their last lines written), then everything is searched.
    const stopped = await Promise.all(started.splice(0).map((p) => p.stop('SIGTERM')));
    expect(stopped.map((s) => s.code)).toEqual([0, 0, 0]);

    const secrets: Record<string, string> = {
      'hook token': hookToken,
      'rotated hook token': rotatedToken,
      'bot API token': bot.api_token,
      'admin key': adminKey,
      'HERALD_SECRET_KEY (base64)': secretKey.toString('base64'),
      'HERALD_SECRET_KEY (hex)': secretKey.toString('hex'),
      'twilio auth_token': credentials.SMSChannel.credentials.auth_token,
      'whatsapp access_token': whatsapp.access_token,
      'whatsapp app_secret': whatsapp.app_secret,
      'whatsapp verify_token': whatsapp.verify_token,
      'telegram bot_token': telegram.bot_token,
      // Telegram's token without its bot id, as it could show in a URL or an error.
      'telegram bot_token secret part': telegram.bot_token.split(':')[1]!,
      'telegram webhook_secret': telegram.webhook_secret,
      'custom secret': credentials.CustomChannel.credentials.secret,
    };

    const logLines = everyProcess.flatMap((p) => p.output().split('\n')).filter((line) => line.trim() !== '');
    expect(logLines.length).toBeGreaterThan(20);
    expect(logLines.some((line) => line.includes('"level":"debug"'))).toBe(true);
    expect(answers.length).toBeGreaterThan(25);

    const { rows: tables } = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(
      database.current.db,
    );
    const rows: string[] = [];
    for (const { table_name } of tables) {
      const { rows: dumped } = await sql<{ row: string }>`SELECT to_jsonb(t)::text AS row FROM ${sql.table(table_name)} t`.execute(database.current.db);
      rows.push(...dumped.map((d) => `${table_name}: ${d.row}`));
    }
    expect(rows.some((row) => row.startsWith('deliveries: '))).toBe(true);
    const queued = await redisValues(prefix);
    expect(queued.length).toBeGreaterThan(0);

    const found: string[] = [];
    for (const [name, secret] of Object.entries(secrets)) {
      for (const [where, texts] of [
        ['a log line', logLines],
        ['an answer', answers],
        ['a database row', rows],
        ['a Redis value', queued],
      ] as const) {
        const hit = texts.find((text) => text.includes(secret));
        if (hit) found.push(`${name} in ${where}: ${hit.slice(0, 300)}`);
      }
    }
    expect(found).toEqual([]);

    // The credentials column holds envelopes under the configured key, each opening to nothing in clear.
    const stored = await database.current.db.selectFrom('channel_connections').select(['channel', 'credentials']).where('bot_id', '=', bot.id).execute();
    expect(stored).toHaveLength(4);
    for (const { credentials: envelope } of stored) {
      expect(isSealedSecret(envelope)).toBe(true);
      expect((envelope as { kid: string }).kid).toBe(secretKeyId(secretKey));
    }
    const { rows: broadcastRows } = await sql<{ row: string }>`SELECT to_jsonb(b)::text AS row FROM broadcasts b`.execute(database.current.db);
    for (const { row } of broadcastRows) {
      expect(row).not.toContain(hookToken);
      expect(row).not.toContain(rotatedToken);
    }
  }, 120_000);

  /** Every value under the queue prefix (jobs are hashes; lists, sets and strings too). */
  async function redisValues(keyPrefix: string): Promise<string[]> {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const values: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', '500');
        cursor = next;
        for (const key of keys) {
          const type = await redis.type(key);
          if (type === 'hash') values.push(key, ...Object.values(await redis.hgetall(key)));
          else if (type === 'string') values.push(key, (await redis.get(key)) ?? '');
          else if (type === 'list') values.push(key, ...(await redis.lrange(key, 0, -1)));
          else if (type === 'zset') values.push(key, ...(await redis.zrange(key, '0', '-1')));
          else if (type === 'set') values.push(key, ...(await redis.smembers(key)));
          else values.push(key);
        }
      } while (cursor !== '0');
      return values;
    } finally {
      redis.disconnect();
    }
  }
});
