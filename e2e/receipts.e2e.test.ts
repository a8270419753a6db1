import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createBroadcastRow,
  fakeAnswers,
  freePort,
  REPO_ROOT,
  seededRandom,
  startProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useFakeProviders,
  useTestDatabase,
  waitFor,
  waitForHttp,
  type HeraldService,
  type StartedProcess,
  PORT_VARIABLE,
} from '@herald/testing';
import { twilioSignature } from '../apps/ingress/src/callbacks/twilio.callbacks';

/**
 * Delivery receipts and opt-outs (issue 12) on the built processes: providers' callbacks reach
 * the ingress at `/callbacks/:connectionId`, signed as Twilio and Meta sign them, with the
 * providers' own documented bodies (apps/ingress/src/callbacks/fixtures, ids and numbers
 * replaced); the worker sends to the fake providers on loopback; the admin API shows what came
 * of it. One ingress, one worker and one admin for the file; a bot and a connection per test.
 */

const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
const FIXTURES = join(REPO_ROOT, 'apps', 'ingress', 'src', 'callbacks', 'fixtures');

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
}

/** Twilio's X-Twilio-Signature, computed here from its definition (not with the ingress's code). */
function signTwilio(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((signed, name) => signed + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Meta's X-Hub-Signature-256 of the raw body. */
function signMeta(appSecret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody, 'utf8').digest('hex')}`;
}

/** A WhatsApp status webhook from a fixture, naming our number, one of our messages, its recipient and a time. */
function metaStatus(file: string, phoneNumberId: string, wamid: string, number: string, unixSeconds: number): string {
  const body = fixture<{ entry: Array<{ changes: Array<{ value: { metadata: Record<string, string>; statuses: Array<Record<string, unknown>> } }> }> }>(file);
  const value = body.entry[0]!.changes[0]!.value;
  value.metadata['phone_number_id'] = phoneNumberId;
  Object.assign(value.statuses[0]!, { id: wamid, recipient_id: number.replace(/^\+/, ''), timestamp: String(unixSeconds) });
  return JSON.stringify(body);
}

interface RunView {
  id: string;
  status: string;
  counts: { targeted: number; sent: number; failed: number; skipped: number; delivered: number; read: number; pending: number };
}

interface DeliveryView {
  id: string;
  user_id: string;
  status: string;
  reason: string | null;
  error_code: string | null;
  last_error: string | null;
  provider_message_id: string | null;
  sent_at: string | null;
  delivered_at: string | null;
  read_at: string | null;
  failed_at: string | null;
}

interface ContactView {
  id: string;
  user_id: string;
  opted_out_at: string | null;
  opt_out_reason: string | null;
}

describe('delivery receipts and opt-outs across processes', () => {
  const database = useTestDatabase();
  const fakes = useFakeProviders();

  describe('with an ingress, a worker and an admin', () => {
    const started: StartedProcess[] = [];
    let ingressUrl = '';
    let adminUrl = '';

    beforeAll(async () => {
      const prefix = testQueuePrefix();
      const ingressPort = await freePort();
      ingressUrl = `http://127.0.0.1:${ingressPort}`;
      const common = { DATABASE_URL: database.current.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
      const start = async (app: HeraldService, port: number, env: Record<string, string>) => {
        const process = startProcess(app, { ...common, ...env, [PORT_VARIABLE[app]]: String(port) });
        started.push(process);
        await waitForHttp(process, port, { path: '/readyz' });
      };
      const adminPort = await freePort();
      adminUrl = `http://127.0.0.1:${adminPort}`;
      await Promise.all([
        start('ingress', ingressPort, { PUBLIC_URL: ingressUrl }),
        start('worker', await freePort(), { OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1', RECONCILE_INTERVAL_MS: '500', DELIVERY_RETRY_BASE_MS: '200' }),
        start('admin', adminPort, {
          ADMIN_API_KEY: ADMIN_KEY,
          PUBLIC_URL: ingressUrl,
          OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1',
          INGRESS_PORT: String(ingressPort),
        }),
      ]);
    }, 60_000);

    // Declared in this inner block, so the processes stop before the database is dropped.
    afterAll(async () => {
      await Promise.all(started.splice(0).map((p) => p.stop('SIGTERM')));
    });

    async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(`${adminUrl}${path}`, {
        method,
        headers: { Authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
      return JSON.parse(text) as T;
    }

    /** A bot with a connection (base_url the fake) and contacts, made through the admin API. */
    async function audience(channel: 'SMSChannel' | 'WhatsAppChannel', credentials: Record<string, string>, numbers: string[]) {
      const bot = await admin<{ id: string }>('POST', '/v1/bots', { name: `receipts ${channel}` });
      const connection = await admin<{ id: string; callback_url: string; credential_names: string[] }>('PUT', `/v1/bots/${bot.id}/channels/${channel}`, {
        provider: channel === 'SMSChannel' ? 'twilio' : 'whatsapp_cloud',
        credentials,
        base_url: fakes.current.baseUrl,
        rate_limit_per_second: 100,
      });
      expect(connection.callback_url).toBe(`${ingressUrl}/callbacks/${connection.id}`);
      expect(connection.credential_names).toEqual(Object.keys(credentials).sort());
      const upserted = await admin<{ created: number }>('POST', `/v1/bots/${bot.id}/contacts`, {
        contacts: numbers.map((number, i) => ({ bot_channel: channel, user_id: number, first_name: `n${i}` })),
      });
      expect(upserted.created).toBe(numbers.length);
      const broadcast = await createBroadcastRow(database.current.db, bot.id, { text: 'Hello {{first_name}}', delay_ms: 0 });
      return { bot, connection, broadcast };
    }

    /** Calls the broadcast's hook on the ingress; the id of the run that applies the call. */
    async function callHook(hookToken: string): Promise<string> {
      const hook = await fetch(`${ingressUrl}/hooks/${hookToken}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      expect(hook.status).toBe(200);
      const { trigger_id: triggerId } = (await hook.json()) as { trigger_id: string };
      return waitFor(async () => (await admin<{ run_id: string | null }>('GET', `/v1/triggers/${triggerId}`)).run_id ?? undefined, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: 'the trigger to be applied by a run',
      });
    }

    function completed(runId: string): Promise<RunView> {
      return waitFor(
        async () => {
          const run = await admin<RunView>('GET', `/v1/runs/${runId}`);
          return run.status === 'completed' ? run : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100, what: 'the run to complete' },
      );
    }

    /** Calls the broadcast's hook and waits for the run it makes to complete. */
    async function launch(hookToken: string): Promise<RunView> {
      return completed(await callHook(hookToken));
    }

    async function deliveries(runId: string): Promise<Map<string, DeliveryView>> {
      const page = await admin<{ data: DeliveryView[] }>('GET', `/v1/runs/${runId}/deliveries?limit=100`);
      return new Map(page.data.map((d) => [d.user_id, d]));
    }

    async function optedOut(botId: string): Promise<ContactView[]> {
      return (await admin<{ data: ContactView[] }>('GET', `/v1/bots/${botId}/contacts?opted_out=true`)).data;
    }

    it('STOP by SMS skips the contact in the next run; START brings it back', async () => {
      const credentials = { ...fakes.current.credentials.twilio };
      const numbers = ['+15550001001', '+15550001002', '+15550001003'];
      const stopper = numbers[1]!;
      const { bot, connection, broadcast } = await audience('SMSChannel', credentials, numbers);
      const url = connection.callback_url;

      // Twilio's inbound STOP (Advanced Opt-Out), from one contact to the connection's number.
      const inbound = (keyword: 'STOP' | 'START') => ({
        ...fixture<Record<string, string>>('twilio-inbound-stop.json'),
        MessageSid: 'SM0123456789abcdef0123456789abcdef',
        SmsSid: 'SM0123456789abcdef0123456789abcdef',
        AccountSid: credentials.account_sid,
        From: stopper,
        To: credentials.from,
        Body: keyword,
        OptOutType: keyword,
      });
      const post = (params: Record<string, string>, signature: string) =>
        fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature },
          body: new URLSearchParams(params).toString(),
        });
      const stop = inbound('STOP');
      // The signature computed here agrees with the ingress's own.
      expect(signTwilio(credentials.auth_token, url, stop)).toBe(twilioSignature(credentials.auth_token, url, new URLSearchParams(stop)));

      // Signed with another auth token: refused, and nobody is opted out.
      const forged = await post(stop, signTwilio('0123456789abcdef0123456789abcdef', url, stop));
      expect(forged.status).toBe(401);
      expect(await optedOut(bot.id)).toEqual([]);

      const accepted = await post(stop, signTwilio(credentials.auth_token, url, stop));
      expect(accepted.status).toBe(200);
      expect(accepted.headers.get('content-type')).toMatch(/^text\/xml/);
      expect(await accepted.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response></Response>\n');
      const out = await optedOut(bot.id);
      expect(out.map((c) => [c.user_id, c.opt_out_reason])).toEqual([[stopper, 'replied STOP (SMS)']]);
      expect(out[0]!.opted_out_at).not.toBeNull();

      const first = await launch(broadcast.hook_token);
      expect(first.counts).toMatchObject({ targeted: 3, sent: 2, failed: 0, skipped: 1, pending: 0, delivered: 0, read: 0 });
      const firstDeliveries = await deliveries(first.id);
      expect([...firstDeliveries.values()].map((d) => [d.user_id, d.status, d.reason]).sort()).toEqual([
        [numbers[0], 'sent', null],
        [numbers[1], 'skipped', 'opted_out'],
        [numbers[2], 'sent', null],
      ]);
      const sends = fakes.current.requestsOf('twilio');
      expect(sends).toHaveLength(2);
      expect(sends.map((r) => r.form?.['To']).sort()).toEqual([numbers[0], numbers[2]]);

      // START, signed: the contact is back in, and the next run sends to all three.
      const start = inbound('START');
      const restarted = await post(start, signTwilio(credentials.auth_token, url, start));
      expect(restarted.status).toBe(200);
      expect(await optedOut(bot.id)).toEqual([]);

      const second = await launch(broadcast.hook_token);
      expect(second.counts).toMatchObject({ targeted: 3, sent: 3, failed: 0, skipped: 0, pending: 0 });
      expect([...(await deliveries(second.id)).values()].map((d) => d.status)).toEqual(['sent', 'sent', 'sent']);
      const allSends = fakes.current.requestsOf('twilio');
      expect(allSends).toHaveLength(5);
      expect(
        allSends
          .slice(2)
          .map((r) => r.form?.['To'])
          .sort(),
      ).toEqual(numbers);
    }, 60_000);

    it('applies WhatsApp receipts arriving out of order and repeated, exactly once each', async () => {
      const appSecret = 'e2e-app-secret-5f0c1d';
      const verifyToken = 'e2e-verify-token-91ab';
      const credentials = { ...fakes.current.credentials.whatsapp_cloud, app_secret: appSecret, verify_token: verifyToken };
      const numbers = ['+15550002001', '+15550002002', '+15550002003'];
      const { connection, broadcast } = await audience('WhatsAppChannel', credentials, numbers);
      const url = connection.callback_url;

      // The subscription handshake: the challenge for the right verify token only.
      const handshake = fixture<{ query: Record<string, string>; expectedResponse: { status: number; body: string } }>('meta-verification-request.json');
      const verified = await fetch(`${url}?${new URLSearchParams({ ...handshake.query, 'hub.verify_token': verifyToken })}`);
      expect(verified.status).toBe(200);
      expect(await verified.text()).toBe(handshake.expectedResponse.body);
      const wrongToken = await fetch(`${url}?${new URLSearchParams(handshake.query)}`); // Meta's example token, not this one
      expect(wrongToken.status).toBe(403);

      const run = await launch(broadcast.hook_token);
      expect(run.counts).toMatchObject({ targeted: 3, sent: 3, failed: 0, skipped: 0, delivered: 0, read: 0 });
      expect(fakes.current.requestsOf('whatsapp_cloud')).toHaveLength(3);
      const sent = await deliveries(run.id);
      const wamid = (number: string) => {
        const id = sent.get(number)?.provider_message_id;
        expect(id).toMatch(/^wamid\./);
        return id!;
      };
      const [a, b, c] = numbers.map(wamid) as [string, string, string];
      expect(new Set([a, b, c]).size).toBe(3);

      // Event times (Unix seconds) after the sends, as Meta's would be.
      const t0 = Math.floor(Date.now() / 1000);
      const at = (offset: number) => new Date((t0 + offset) * 1000).toISOString();
      const status = (file: string, id: string, number: string, offset: number) => metaStatus(file, credentials.phone_number_id, id, number, t0 + offset);
      const callbacks = {
        aRead: status('whatsapp-status-read.json', a, numbers[0]!, 20),
        aDelivered: status('whatsapp-status-delivered.json', a, numbers[0]!, 10),
        bSent: status('whatsapp-status-sent.json', b, numbers[1]!, 5),
        bFailed: status('whatsapp-status-failed.json', b, numbers[1]!, 15),
        cDelivered: status('whatsapp-status-delivered.json', c, numbers[2]!, 12),
      };
      const post = (body: string, secret = appSecret) =>
        fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signMeta(secret, body) }, body });

      // Each callback three times, shuffled (seeded), but A's reads before A's deliveries and
      // B's `sent` before its `failed`, as Meta's retries of them would arrive.
      const random = seededRandom(20261127);
      const order: Array<keyof typeof callbacks> = [];
      for (const name of Object.keys(callbacks) as Array<keyof typeof callbacks>) order.push(name, name, name);
      for (let i = order.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const [before, after] of [
        ['aRead', 'aDelivered'],
        ['bSent', 'bFailed'],
      ] as const) {
        const slots = order.flatMap((name, i) => (name === before || name === after ? [i] : []));
        slots.forEach((slot, k) => (order[slot] = k < 3 ? before : after));
      }
      for (const name of order) {
        const response = await post(callbacks[name]);
        expect([name, response.status, await response.text()]).toEqual([name, 200, '{"received":true}\n']);
      }

      const expectedCounts = { targeted: 3, sent: 2, failed: 1, skipped: 0, pending: 0, delivered: 2, read: 1 };
      const settled = async () => {
        const now = await admin<RunView>('GET', `/v1/runs/${run.id}`);
        expect(now.counts).toMatchObject(expectedCounts);
      };
      // Answered 200 only once committed: nothing left to wait for.
      await settled();
      const check = async () => {
        const after = await deliveries(run.id);
        expect(after.get(numbers[0]!)).toMatchObject({ status: 'sent', reason: null, delivered_at: at(10), read_at: at(20), failed_at: null });
        expect(after.get(numbers[1]!)).toMatchObject({
          status: 'failed',
          reason: 'undelivered',
          error_code: '131049',
          delivered_at: null,
          read_at: null,
          failed_at: at(15),
        });
        expect(after.get(numbers[1]!)!.last_error).toContain('healthy ecosystem engagement');
        expect(after.get(numbers[2]!)).toMatchObject({ status: 'sent', reason: null, delivered_at: at(12), read_at: null, failed_at: null });
      };
      await check();
      expect(await pendingReceipts()).toBe(0);

      // All fifteen again, at once: the merge is order-free and a repeat changes nothing.
      const again = await Promise.all(order.map((name) => post(callbacks[name])));
      expect(again.map((r) => r.status)).toEqual(order.map(() => 200));
      await settled();
      await check();

      // A forged signature (another app secret): refused, and nothing moves.
      const forged = await post(status('whatsapp-status-read.json', c, numbers[2]!, 30), 'not-the-app-secret');
      expect(forged.status).toBe(401);
      const unsigned = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: callbacks.cDelivered });
      expect(unsigned.status).toBe(401);
      await settled();
      await check();
      expect(await pendingReceipts()).toBe(0);
    }, 60_000);

    it('parks a receipt that beats the record of its send; the reconciler applies it', async () => {
      const appSecret = 'e2e-app-secret-parked';
      const credentials = { ...fakes.current.credentials.whatsapp_cloud, app_secret: appSecret };
      const number = '+15550003001';
      const { connection, broadcast } = await audience('WhatsAppChannel', credentials, [number]);
      // The provider accepts the message but its answer takes 3 s: its receipts come first.
      const wamid = 'wamid.HBgLe2eParkedReceipt0001FAKE';
      fakes.current.script(
        'whatsapp_cloud',
        fakeAnswers.slow(
          3_000,
          fakeAnswers.response(200, {
            messaging_product: 'whatsapp',
            contacts: [{ input: number.slice(1), wa_id: number.slice(1) }],
            messages: [{ id: wamid }],
          }),
        ),
      );
      const runId = await callHook(broadcast.hook_token);
      await waitFor(() => fakes.current.requestsOf('whatsapp_cloud').length === 1 || undefined, { timeoutMs: 20_000, what: 'the send to reach the fake' });

      const t0 = Math.floor(Date.now() / 1000);
      const at = (offset: number) => new Date((t0 + offset) * 1000).toISOString();
      for (const body of [
        metaStatus('whatsapp-status-read.json', credentials.phone_number_id, wamid, number, t0 + 8),
        metaStatus('whatsapp-status-delivered.json', credentials.phone_number_id, wamid, number, t0 + 4),
      ]) {
        const response = await fetch(connection.callback_url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signMeta(appSecret, body) },
          body,
        });
        expect(response.status).toBe(200);
      }
      // Still unanswered by the provider: the send is not recorded, the receipts are parked.
      expect(fakes.current.requestsOf('whatsapp_cloud')[0]!.answeredStatus).toBeNull();
      expect(await pendingReceipts()).toBe(2);
      const parked = await admin<RunView>('GET', `/v1/runs/${runId}`);
      expect(parked.counts).toMatchObject({ sent: 0, delivered: 0, read: 0 });

      await completed(runId);
      const applied = await waitFor(
        async () => {
          const run = await admin<RunView>('GET', `/v1/runs/${runId}`);
          return run.counts.read === 1 ? run : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, what: 'the reconciler to apply the parked receipts' },
      );
      expect(applied.counts).toMatchObject({ targeted: 1, sent: 1, failed: 0, skipped: 0, pending: 0, delivered: 1, read: 1 });
      expect((await deliveries(runId)).get(number)).toMatchObject({ status: 'sent', provider_message_id: wamid, delivered_at: at(4), read_at: at(8) });
      expect(await pendingReceipts()).toBe(0);
    }, 60_000);

    async function pendingReceipts(): Promise<number> {
      const row = await database.current.db
        .selectFrom('pending_receipts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }
  });
});
