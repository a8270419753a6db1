import { sql } from 'kysely';
import { TEST_SECRETS, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, adminApi, useAdminApp } from '../testing/admin-app';

/** The admin API over real HTTP against this file's own database. */

const PUBLIC_URL = 'https://hooks.example.com/';

describe('admin API', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database, () => ({ publicUrl: PUBLIC_URL }));

  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => adminApi(admin, method, path, body, headers);

  async function newBot(name = 'Shop bot') {
    return (await api('POST', '/v1/bots', { name })).body as { id: string; api_token: string };
  }

  describe('authentication', () => {
    it('refuses a missing or wrong key with 401 and accepts the right one', async () => {
      const none = await fetch(`${admin.url}/v1/bots`, { method: 'POST' });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      // Loud about which: a key left in a .env file is the usual surprise of a caller who sent none.
      expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/requires its key .*ADMIN_API_KEY.*\.env file/);
      const wrong = await api('POST', '/v1/bots', { name: 'x' }, { authorization: `Bearer ${KEY}x` });
      expect(wrong.status).toBe(401);
      expect(wrong.body['error'].message).toMatch(/^The key sent is not this server's ADMIN_API_KEY/);
      expect((await api('POST', '/v1/bots', { name: 'x' }, { authorization: KEY })).status).toBe(401);
      expect((await api('POST', '/v1/bots', { name: 'x' })).status).toBe(201);
    });

    it('leaves the probes open', async () => {
      expect((await fetch(`${admin.url}/healthz`)).status).toBe(200);
    });
  });

  describe('bots', () => {
    it("lists the bots and a bot's broadcasts, newest first, page by page", async () => {
      const before = (await api('GET', '/v1/bots?limit=500')).body['data'].length as number;
      const made = [];
      for (const name of ['list-a', 'list-b', 'list-c']) made.push((await api('POST', '/v1/bots', { name })).body);
      const first = await api('GET', '/v1/bots?limit=2');
      expect(first.status).toBe(200);
      expect(first.body['data'].map((b: { name: string }) => b.name)).toEqual(['list-c', 'list-b']);
      expect(first.body['data'][0]).toEqual({ id: made[2]!['id'], name: 'list-c', created_at: expect.any(String) });
      const second = await api('GET', `/v1/bots?limit=2&cursor=${first.body['next_cursor']}`);
      expect(second.body['data'][0]['name']).toBe('list-a');
      expect((await api('GET', '/v1/bots?limit=500')).body['data']).toHaveLength(before + 3);

      const botId = made[0]!['id'] as string;
      for (const name of ['one', 'two']) await api('POST', `/v1/bots/${botId}/broadcasts`, { name, message: { text: 'hi' } });
      const broadcasts = await api('GET', `/v1/bots/${botId}/broadcasts`);
      expect(broadcasts.body['data'].map((b: { name: string }) => b.name)).toEqual(['two', 'one']);
      expect(broadcasts.body['data'][0]).not.toHaveProperty('hook_url');
      expect(broadcasts.body['data'][0]['hook_url_hint']).toMatch(/\/hooks\/…[A-Za-z0-9_-]{4}$/);
      expect(broadcasts.body['next_cursor']).toBeNull();
      expect((await api('GET', '/v1/bots/00000000-0000-0000-0000-000000000000/broadcasts')).status).toBe(404);
      expect((await api('GET', '/v1/bots?cursor=garbage')).status).toBe(400);
    });

    it('creates a bot, shows its API token once, and reads it back without the token', async () => {
      const created = await api('POST', '/v1/bots', { name: '  Shop bot ' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), name: 'Shop bot', api_token: expect.stringMatching(/^hbt_/), created_at: expect.any(String) });
      const read = await api('GET', `/v1/bots/${created.body['id']}`);
      expect(read.body).toEqual({ id: created.body['id'], name: 'Shop bot', created_at: created.body['created_at'], channels: [] });
      expect(JSON.stringify(read.body)).not.toContain(created.body['api_token']);
    });

    it('answers 404 for an unknown or malformed id, and 400 naming a bad field', async () => {
      expect((await api('GET', '/v1/bots/7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11')).status).toBe(404);
      expect((await api('GET', '/v1/bots/42')).status).toBe(404);
      const bad = await api('POST', '/v1/bots', { name: '', colour: 'red' });
      expect(bad.status).toBe(400);
      expect(bad.body['error']).toEqual({
        code: 'validation_failed',
        message: 'The request is invalid',
        details: [
          { path: 'name', message: 'is not allowed to be empty', expected: 'a non-empty string' },
          { path: 'colour', message: 'is not allowed', expected: 'no such field' },
        ],
      });
    });

    it('refuses a body of a type that is not JSON with 415', async () => {
      const response = await fetch(`${admin.url}/v1/bots`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/xml' },
        body: '<bot/>',
      });
      expect(response.status).toBe(415);
    });

    it('reads JSON sent as curl -d sends it (form-urlencoded), and says where malformed JSON breaks', async () => {
      const post = (body: string) =>
        fetch(`${admin.url}/v1/bots`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
      expect((await post('{"name":"curl bot"}')).status).toBe(201);
      const malformed = await post('{"name": "x",}');
      expect(malformed.status).toBe(400);
      const { error } = (await malformed.json()) as { error: { code: string; details: Array<{ message: string }> } };
      expect(error.code).toBe('bad_request');
      expect(error.details[0]!.message).toMatch(/position \d+/);
    });
  });

  describe('channel connections', () => {
    it('upserts a connection by channel name or alias and never echoes credentials', async () => {
      const bot = await newBot();
      const put = await api('PUT', `/v1/bots/${bot.id}/channels/custom`, {
        provider: 'custom',
        base_url: 'https://hooks.example.com/in',
        credentials: { secret: 's3cr3t-value' },
      });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({
        channel: 'CustomChannel',
        provider: 'custom',
        base_url: 'https://hooks.example.com/in',
        credential_names: ['secret'],
        rate_limit_per_second: null,
      });
      const again = await api('PUT', `/v1/bots/${bot.id}/channels/CustomChannel`, {
        provider: 'custom',
        base_url: 'https://hooks.example.com/in2',
        rate_limit_per_second: 5,
      });
      expect(again.body).toMatchObject({ base_url: 'https://hooks.example.com/in2', rate_limit_per_second: 5, credential_names: [] });
      const read = await api('GET', `/v1/bots/${bot.id}`);
      expect(read.body['channels']).toHaveLength(1);
      expect(JSON.stringify(read.body)).not.toContain('s3cr3t-value');
    });

    it('stores credentials sealed under the current secret key, never in clear', async () => {
      const bot = await newBot();
      const credentials = { account_sid: 'AC0123456789', auth_token: 'twilio-auth-token-at-rest', from: '+15005550006' };
      const put = await api('PUT', `/v1/bots/${bot.id}/channels/sms`, { provider: 'twilio', credentials });
      expect(put.body['credential_names']).toEqual(['account_sid', 'auth_token', 'from']);
      const { rows } = await sql<{ credentials: unknown; text: string }>`
        SELECT credentials, credentials::text AS text FROM channel_connections WHERE bot_id = ${bot.id}`.execute(database.current.db);
      expect(rows[0]!.credentials).toEqual({ v: 1, kid: TEST_SECRETS.currentKeyId, iv: expect.any(String), tag: expect.any(String), ct: expect.any(String) });
      for (const value of Object.values(credentials)) expect(rows[0]!.text).not.toContain(value);
      // The names come back from the sealed value: the admin opens it.
      expect((await api('GET', `/v1/bots/${bot.id}/channels`)).body['data'][0]['credential_names']).toEqual(['account_sid', 'auth_token', 'from']);
    });

    it('refuses an unknown channel, a provider of another channel, and a bad URL', async () => {
      const bot = await newBot();
      expect((await api('PUT', `/v1/bots/${bot.id}/channels/email`, { provider: 'custom' })).status).toBe(404);
      const wrong = await api('PUT', `/v1/bots/${bot.id}/channels/whatsapp`, { provider: 'twilio' });
      expect(wrong.status).toBe(400);
      expect(wrong.body['error'].details).toEqual([
        { path: 'provider', message: '"twilio" does not serve WhatsAppChannel', expected: 'one of whatsapp_cloud' },
      ]);
      const url = await api('PUT', `/v1/bots/${bot.id}/channels/sms`, { provider: 'twilio', base_url: 'ftp://x', rate_limit_per_second: 0 });
      expect(url.body['error'].details.map((d: { path: string }) => d.path)).toEqual(['base_url', 'rate_limit_per_second']);
    });
  });

  describe('contacts', () => {
    it('creates and updates contacts in one call, merging variables and keeping unsent fields', async () => {
      const bot = await newBot();
      const first = await api('POST', `/v1/bots/${bot.id}/contacts`, {
        contacts: [
          { user_id: '42', bot_channel: 'telegram', first_name: 'Ada', variables: { tier: 'gold', visits: 3 } },
          { user_phone_number: '+39 333 111 1111', bot_channel: 'whatsapp', locale: 'it' },
        ],
      });
      expect(first.body).toEqual({ received: 2, created: 2, updated: 0 });
      const second = await api('POST', `/v1/bots/${bot.id}/contacts`, {
        contacts: [
          { user_id: 42, bot_channel: 'TelegramChannel', variables: { visits: 4, city: 'Turin' } },
          { user_id: '7', bot_channel: 'web' },
        ],
      });
      expect(second.body).toEqual({ received: 2, created: 1, updated: 1 });
      const rows = await database.current.db
        .selectFrom('contacts')
        .select(['bot_channel', 'user_id', 'user_phone_number', 'first_name', 'locale', 'variables'])
        .where('bot_id', '=', bot.id)
        .orderBy('user_id')
        .execute();
      expect(rows).toEqual([
        { bot_channel: 'WhatsAppChannel', user_id: '+393331111111', user_phone_number: '+393331111111', first_name: null, locale: 'it', variables: {} },
        {
          bot_channel: 'TelegramChannel',
          user_id: '42',
          user_phone_number: null,
          first_name: 'Ada',
          locale: null,
          variables: { tier: 'gold', visits: 4, city: 'Turin' },
        },
        { bot_channel: 'WebChannel', user_id: '7', user_phone_number: null, first_name: null, locale: null, variables: {} },
      ]);
    });

    it("lists a bot's contacts page by page, by channel and by user id", async () => {
      const bot = await newBot();
      await api('POST', `/v1/bots/${bot.id}/contacts`, {
        contacts: [
          { user_id: 'a', bot_channel: 'web' },
          { user_id: 'b', bot_channel: 'web' },
          { user_id: 'c', bot_channel: 'telegram', first_name: 'Cy' },
        ],
      });
      const first = await api('GET', `/v1/bots/${bot.id}/contacts?limit=2`);
      expect(first.body['data'].map((c: { user_id: string }) => c.user_id)).toEqual(['a', 'b']);
      const second = await api('GET', `/v1/bots/${bot.id}/contacts?limit=2&cursor=${first.body['next_cursor']}`);
      expect(second.body).toMatchObject({ data: [{ user_id: 'c', first_name: 'Cy', bot_channel: 'TelegramChannel' }], next_cursor: null });
      expect((await api('GET', `/v1/bots/${bot.id}/contacts?bot_channel=web`)).body['data']).toHaveLength(2);
      expect((await api('GET', `/v1/bots/${bot.id}/contacts?user_id=c`)).body['data']).toHaveLength(1);
      expect((await api('GET', `/v1/bots/${bot.id}/contacts?bot_channel=fax`)).status).toBe(400);
    });

    it('collapses duplicates in one call, the later winning', async () => {
      const bot = await newBot();
      const response = await api('POST', `/v1/bots/${bot.id}/contacts`, {
        contacts: [
          { user_id: '1', bot_channel: 'web', first_name: 'A', variables: { x: 1 } },
          { user_id: '1', bot_channel: 'WebChannel', first_name: 'B', variables: { y: 2 } },
        ],
      });
      expect(response.body).toEqual({ received: 2, created: 1, updated: 0 });
      const row = await database.current.db.selectFrom('contacts').select(['first_name', 'variables']).where('bot_id', '=', bot.id).executeTakeFirstOrThrow();
      expect(row).toEqual({ first_name: 'B', variables: { x: 1, y: 2 } });
    });

    it('rejects the whole call when any contact is invalid, saving none', async () => {
      const bot = await newBot();
      const response = await api('POST', `/v1/bots/${bot.id}/contacts`, {
        contacts: [
          { user_id: '1', bot_channel: 'web' },
          { user_id: 'ada', bot_channel: 'sms' },
          { user_id: '2', bot_channel: 'fax' },
          { user_id: '3', bot_channel: 'web', variables: { 'Bad Name': 1 } },
        ],
      });
      expect(response.status).toBe(400);
      expect(response.body['error'].details.map((d: { path: string }) => d.path)).toEqual([
        'contacts[1].user_id',
        'contacts[2].bot_channel',
        'contacts[3].variables.Bad Name',
      ]);
      const count = await database.current.db
        .selectFrom('contacts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('bot_id', '=', bot.id)
        .executeTakeFirstOrThrow();
      expect(count.n).toBe('0');
    });

    it('refuses text Postgres cannot store with 400 naming it, on any route', async () => {
      const bot = await newBot();
      const raw = (path: string, body: string) =>
        fetch(`${admin.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body });
      const nulName = await raw(`/v1/bots/${bot.id}/contacts`, '{"contacts":[{"user_id":"1","bot_channel":"telegram","first_name":"A\\u0000B"}]}');
      const surrogate = await raw(`/v1/bots/${bot.id}/contacts`, '{"contacts":[{"user_id":"1","bot_channel":"telegram","variables":{"x":"\\udc00"}}]}');
      const broadcastName = await raw(`/v1/bots/${bot.id}/broadcasts`, '{"name":"N\\u0000","message":{"text":"Hi"}}');
      const answers = await Promise.all(
        [nulName, surrogate, broadcastName].map(async (r) => [
          r.status,
          ((await r.json()) as { error: { details: Array<{ path: string }> } }).error.details[0]?.path,
        ]),
      );
      expect(answers).toEqual([
        [400, 'contacts[0].first_name'],
        [400, 'contacts[0].variables.x'],
        [400, 'name'],
      ]);
      expect((await api('GET', `/v1/bots/${bot.id}/contacts`)).body['data']).toEqual([]);
      const query = await api('GET', `/v1/bots/${bot.id}/contacts?user_id=a%00b`);
      expect([query.status, query.body['error'].details[0].path]).toEqual([400, 'query.user_id']);
    });

    it('accepts 10,000 contacts in one call and refuses 10,001', async () => {
      const bot = await newBot();
      const contacts = Array.from({ length: 10_000 }, (_, i) => ({ user_id: `u${i}`, bot_channel: 'web', variables: { n: i } }));
      expect((await api('POST', `/v1/bots/${bot.id}/contacts`, { contacts })).body).toEqual({ received: 10_000, created: 10_000, updated: 0 });
      contacts.push({ user_id: 'one-more', bot_channel: 'web', variables: { n: 0 } });
      expect((await api('POST', `/v1/bots/${bot.id}/contacts`, { contacts })).status).toBe(400);
    });
  });

  describe('broadcasts', () => {
    it('creates a broadcast with the SPEC defaults and a hook URL under PUBLIC_URL, shown this once', async () => {
      const bot = await newBot();
      const created = await api('POST', `/v1/bots/${bot.id}/broadcasts`, { name: 'Order update', message: { text: 'Hi {{first_name}}' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        bot_id: bot.id,
        name: 'Order update',
        enabled: true,
        audience: { filters: [], join: [] },
        message: { text: 'Hi {{first_name}}' },
        allowed_hosts: [],
        allow_get: true,
        allow_post: true,
        direct_mode: true,
        require_valid_filter: true,
        delay_ms: 10_000,
        max_delay_ms: null,
        hook_url: expect.stringMatching(/^https:\/\/hooks\.example\.com\/hooks\/[A-Za-z0-9_-]{43}$/),
      });
      const token = (created.body['hook_url'] as string).split('/').pop()!;
      const { hook_url: _url, ...withoutUrl } = created.body;
      expect(withoutUrl['hook_url_hint']).toBe(`https://hooks.example.com/hooks/…${token.slice(-4)}`);
      expect((await api('GET', `/v1/broadcasts/${created.body['id']}`)).body).toEqual(withoutUrl);
    });

    it("keeps only the hook token's digest: no read, list or update shows the URL again, and the row does not hold it", async () => {
      const bot = await newBot();
      const created = (await api('POST', `/v1/bots/${bot.id}/broadcasts`, { name: 'Secret', message: { text: 'x' } })).body;
      const token = (created['hook_url'] as string).split('/').pop()!;
      const reads = [
        await api('GET', `/v1/broadcasts/${created['id']}`),
        await api('GET', `/v1/bots/${bot.id}/broadcasts`),
        await api('PATCH', `/v1/broadcasts/${created['id']}`, { name: 'Secret too' }),
      ];
      for (const read of reads) {
        expect(read.status).toBe(200);
        expect(JSON.stringify(read.body)).not.toContain(token);
      }
      const { rows } = await sql<{ row: string }>`SELECT to_jsonb(b)::text AS row FROM broadcasts b WHERE id = ${created['id']}`.execute(database.current.db);
      expect(rows[0]!.row).not.toContain(token);

      // Rotation shows the new URL once, and the hint follows it.
      const rotated = (await api('POST', `/v1/broadcasts/${created['id']}/rotate-hook`)).body;
      const newToken = (rotated['hook_url'] as string).split('/').pop()!;
      expect(newToken).not.toBe(token);
      const after = (await api('GET', `/v1/broadcasts/${created['id']}`)).body;
      expect(after['hook_url_hint']).toBe(`https://hooks.example.com/hooks/…${newToken.slice(-4)}`);
      expect(JSON.stringify(after)).not.toContain(newToken);
    });

    it('normalises the audience and the per-channel message keys', async () => {
      const bot = await newBot();
      const created = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
        name: 'Gold members',
        audience: {
          filters: [
            { field: 'tier', criteria: 'cointains', value: 'gold' },
            { field: 'visits', criteria: 'GreaterThan', value: 3 },
          ],
          join: ['or'],
        },
        message: { text: 'Hello', channels: { whatsapp: { template: { name: 'gold_offer', parameters: ['{{first_name}}'] } } } },
        allowed_hosts: ['10.0.0.0/8', '::1'],
        delay_ms: 2_000,
        max_delay_ms: 30_000,
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        audience: {
          filters: [
            { field: 'tier', criteria: 'Contains', value: 'gold' },
            { field: 'visits', criteria: 'GreaterThan', value: '3' },
          ],
          join: ['OR'],
        },
        // `parameters`, the old name, is stored as SPEC §5's `body_parameters`.
        message: { text: 'Hello', channels: { WhatsAppChannel: { template: { name: 'gold_offer', language: 'en', body_parameters: ['{{first_name}}'] } } } },
        allowed_hosts: ['10.0.0.0/8', '::1'],
        delay_ms: 2_000,
        max_delay_ms: 30_000,
      });
    });

    it('names every bad field of a broadcast', async () => {
      const bot = await newBot();
      const response = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
        name: 'x',
        message: {},
        allowed_hosts: ['example.com'],
        delay_ms: -1,
        direct_mode: 'sometimes',
      });
      expect(response.status).toBe(400);
      expect(response.body['error'].details.map((d: { path: string }) => d.path)).toEqual(['message.text', 'allowed_hosts[0]', 'direct_mode', 'delay_ms']);
      const audience = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
        name: 'x',
        message: { text: 'x' },
        audience: { filters: [{ field: 'a', criteria: 'Near', value: '1' }] },
      });
      expect(audience.body['error'].details).toEqual([expect.objectContaining({ path: 'audience.filters[0].criteria' })]);
      expect((await api('POST', '/v1/bots/7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11/broadcasts', { name: 'x', message: { text: 'x' } })).status).toBe(404);
    });

    describe('message templates and per-channel overrides', () => {
      const HINT = '(write {{name}} or {{a.b[0]}}, and \\{\\{ for a literal {{)';
      const templateError = (path: string, problem: string) => ({
        path,
        message: `is not a valid template: ${problem} ${HINT}`,
        expected: 'the documented format',
      });

      async function storedMessage(id: string) {
        const row = await database.current.db.selectFrom('broadcasts').select('message').where('id', '=', id).executeTakeFirstOrThrow();
        return row.message;
      }

      it('refuses a template that does not compile on create, naming every field and the position', async () => {
        const bot = await newBot();
        const response = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
          name: 'Broken',
          message: {
            text: 'Hello there {{first_name',
            channels: {
              sms: { text: 'Hi {{first name}}' },
              whatsapp: { template: { name: 'order_update', body_parameters: ['{{order.id}}', '{{order..sku}}'] } },
            },
          },
        });
        expect(response.status).toBe(400);
        expect(response.body['error']).toEqual({
          code: 'validation_failed',
          message: 'The request is invalid',
          details: [
            templateError('message.text', 'unclosed {{ at position 12'),
            templateError('message.channels.sms.text', 'unexpected "n": a path is names joined by "." and "[index]" at position 11'),
            templateError('message.channels.whatsapp.template.body_parameters[1]', 'expected a name after "." at position 8'),
          ],
        });
        expect(await database.current.db.selectFrom('broadcasts').select('id').where('bot_id', '=', bot.id).execute()).toEqual([]);
      });

      it('refuses a template that does not compile on PATCH and keeps the stored message', async () => {
        const bot = await newBot();
        const created = (await api('POST', `/v1/bots/${bot.id}/broadcasts`, { name: 'B', message: { text: 'Hi {{first_name}}' } })).body;
        const patched = await api('PATCH', `/v1/broadcasts/${created['id']}`, { message: { text: 'Total: {{order.items[x].price}}' } });
        expect(patched.status).toBe(400);
        expect(patched.body['error'].details).toEqual([templateError('message.text', 'expected an index (digits) after "[" at position 21')]);
        expect(await storedMessage(created['id'])).toEqual({ text: 'Hi {{first_name}}' });

        const fixed = await api('PATCH', `/v1/broadcasts/${created['id']}`, { message: { text: 'Total: {{order.items[0].price}} \\{\\{ok}}' } });
        expect(fixed.status).toBe(200);
        expect(await storedMessage(created['id'])).toEqual({ text: 'Total: {{order.items[0].price}} \\{\\{ok}}' });
      });

      it('stores a WhatsApp template under the canonical channel name with body_parameters', async () => {
        const bot = await newBot();
        const message = {
          text: 'Your order {{order.id}} is on its way',
          channels: {
            WHATSAPP: { template: { name: 'order_update', language: 'it', body_parameters: ['{{first_name}}', '{{order.items[0].sku}}'] } },
            Sms: { text: 'Order {{order.id}}: on its way' },
          },
        };
        const created = await api('POST', `/v1/bots/${bot.id}/broadcasts`, { name: 'Shipping', message });
        expect(created.status).toBe(201);
        const stored = {
          text: 'Your order {{order.id}} is on its way',
          channels: {
            WhatsAppChannel: { template: { name: 'order_update', language: 'it', body_parameters: ['{{first_name}}', '{{order.items[0].sku}}'] } },
            SMSChannel: { text: 'Order {{order.id}}: on its way' },
          },
        };
        expect(created.body['message']).toEqual(stored);
        expect(await storedMessage(created.body['id'])).toEqual(stored);

        const patched = await api('PATCH', `/v1/broadcasts/${created.body['id']}`, {
          message: { text: 'x', channels: { whatsappchannel: { template: { name: 'short', parameters: ['{{tier}}'] } } } },
        });
        expect(patched.status).toBe(200);
        expect(await storedMessage(created.body['id'])).toEqual({
          text: 'x',
          channels: { WhatsAppChannel: { template: { name: 'short', language: 'en', body_parameters: ['{{tier}}'] } } },
        });
      });

      it('accepts message_tag under Messenger in any spelling', async () => {
        const bot = await newBot();
        const created = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
          name: 'Receipts',
          message: {
            text: 'Receipt {{payload.receipt_id}}',
            channels: { messenger: { text: 'Your receipt {{payload.receipt_id}}', message_tag: 'POST_PURCHASE_UPDATE' } },
          },
        });
        expect(created.status).toBe(201);
        expect(await storedMessage(created.body['id'])).toEqual({
          text: 'Receipt {{payload.receipt_id}}',
          channels: { FacebookChannel: { text: 'Your receipt {{payload.receipt_id}}', message_tag: 'POST_PURCHASE_UPDATE' } },
        });
      });

      it('refuses template outside WhatsApp, message_tag outside Messenger, and a bad override, by path', async () => {
        const bot = await newBot();
        const response = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
          name: 'Misplaced',
          message: {
            text: 'Hi',
            channels: {
              sms: { template: { name: 'order_update', body_parameters: [] } },
              TelegramChannel: { message_tag: 'ACCOUNT_UPDATE' },
              facebook: { message_tag: 'account update' },
              whatsapp: { template: { name: 'x', parameters: ['{{a}}'], body_parameters: ['{{b}}'] } },
              fax: { text: 'Hi' },
            },
          },
        });
        expect(response.status).toBe(400);
        expect(response.body['error'].details).toEqual([
          { path: 'message.channels.sms.template', message: 'is allowed only under WhatsAppChannel (whatsapp)', expected: 'no such field' },
          {
            path: 'message.channels.TelegramChannel.message_tag',
            message: 'is allowed only under FacebookChannel (messenger, facebook)',
            expected: 'no such field',
          },
          {
            path: 'message.channels.facebook.message_tag',
            message: 'is not a message tag (e.g. ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT)',
            expected: 'the documented format',
          },
          {
            path: 'message.channels.whatsapp.template',
            message: expect.stringContaining('has both body_parameters and parameters'),
            expected: expect.any(String),
          },
          { path: 'message.channels.fax', message: 'is not a channel', expected: expect.stringMatching(/^one of WhatsAppChannel, .*, whatsapp, .*messenger/) },
        ]);
      });

      it('refuses two spellings of one channel instead of picking one', async () => {
        const bot = await newBot();
        const response = await api('POST', `/v1/bots/${bot.id}/broadcasts`, {
          name: 'Twice',
          message: { text: 'Hi', channels: { whatsapp: { text: 'a' }, WhatsAppChannel: { text: 'b' } } },
        });
        expect(response.status).toBe(400);
        expect(response.body['error'].details).toEqual([
          { path: 'message.channels.WhatsAppChannel', message: 'names the same channel as "whatsapp" (WhatsAppChannel)', expected: 'one entry per channel' },
        ]);
      });
    });

    it('updates only what PATCH names, rotates the hook, and deletes', async () => {
      const bot = await newBot();
      const created = (await api('POST', `/v1/bots/${bot.id}/broadcasts`, { name: 'B', message: { text: 'x' } })).body;
      const patched = await api('PATCH', `/v1/broadcasts/${created['id']}`, { enabled: false, delay_ms: 500 });
      expect(patched.body).toMatchObject({ enabled: false, delay_ms: 500, name: 'B', hook_url_hint: created['hook_url_hint'] });
      expect(patched.body).not.toHaveProperty('hook_url');
      expect((await api('PATCH', `/v1/broadcasts/${created['id']}`, {})).status).toBe(400);

      const rotated = await api('POST', `/v1/broadcasts/${created['id']}/rotate-hook`);
      expect(rotated.status).toBe(200);
      expect(rotated.body['hook_url']).not.toBe(created['hook_url']);
      expect(rotated.body['hook_rotated_at']).toEqual(expect.any(String));

      expect((await api('DELETE', `/v1/broadcasts/${created['id']}`)).status).toBe(204);
      expect((await api('GET', `/v1/broadcasts/${created['id']}`)).status).toBe(404);
      expect((await api('DELETE', `/v1/broadcasts/${created['id']}`)).status).toBe(404);
    });
  });
});
