import { GARBAGE_SEED, garbageJson, garbageObject, garbageVariant, seededRandom, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../testing/admin-app';

/**
 * SPEC §7: bad input of any kind gets a 4xx and changes nothing. Seeded random bodies at every
 * admin route that takes one, shaped enough (mostly known field names) to get past the first
 * checks: no answer may be a 5xx. GARBAGE_SEED reproduces a failure.
 */

const ROUNDS = 60;

const CONTACT_FIELDS = ['user_id', 'user_phone_number', 'bot_channel', 'first_name', 'last_name', 'user_name', 'locale', 'variables'];
const BROADCAST_FIELDS = [
  'name',
  'enabled',
  'audience',
  'message',
  'allowed_hosts',
  'allow_get',
  'allow_post',
  'direct_mode',
  'require_valid_filter',
  'delay_ms',
  'max_delay_ms',
];
const CHANNEL_FIELDS = ['provider', 'credentials', 'base_url', 'rate_limit_per_second'];

describe(`admin API under garbage (seed ${GARBAGE_SEED})`, () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);
  const random = seededRandom(GARBAGE_SEED);
  const failures: string[] = [];

  async function send(method: string, path: string, body?: string, contentType = 'application/json') {
    const response = await fetch(`${admin.url}${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': contentType }, body });
    await response.arrayBuffer();
    if (response.status >= 500) failures.push(`${response.status} ${method} ${path} ${(body ?? '').slice(0, 300)}`);
    return response.status;
  }

  const json = (value: unknown) => JSON.stringify(value);
  /** A query value as a client could send it: percent-encoded UTF-8, or bytes that are not UTF-8. */
  const queryText = () =>
    random.chance(0.2)
      ? random.pick(['%ED%A0%80', '%C3%28', '%FF', '%00', '%'])
      : [...Buffer.from(String(garbageJson(random, 0)), 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

  it('never answers 5xx to random bodies, on any route', async () => {
    const bot = (await (
      await fetch(`${admin.url}/v1/bots`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: '{"name":"g"}',
      })
    ).json()) as { id: string };
    const created = await fetch(`${admin.url}/v1/bots/${bot.id}/broadcasts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{"name":"g","message":{"text":"hi"}}',
    });
    const broadcast = (await created.json()) as { id: string };
    const statuses: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const contacts = Array.from({ length: 1 + random.int(3) }, (_, n) =>
        random.chance(0.7)
          ? garbageVariant(random, { user_id: `u${i}-${n}`, bot_channel: 'telegram', variables: { a: 1 } }, CONTACT_FIELDS)
          : garbageObject(random, CONTACT_FIELDS),
      );
      const broadcastBody = () =>
        random.chance(0.7)
          ? garbageVariant(random, { name: `b${i}`, message: { text: 'hi {{first_name}}' } }, BROADCAST_FIELDS)
          : garbageObject(random, BROADCAST_FIELDS);
      statuses.push(
        await send('POST', '/v1/bots', json(garbageVariant(random, { name: 'bot' }, ['name']))),
        await send('POST', `/v1/bots/${bot.id}/contacts`, json(random.chance(0.8) ? { contacts } : garbageJson(random))),
        await send(
          'PUT',
          `/v1/bots/${bot.id}/channels/${random.pick(['whatsapp', 'sms', 'custom', 'web', 'pigeon', '%00'])}`,
          json(garbageVariant(random, { provider: 'custom', base_url: 'http://127.0.0.1:9/in', credentials: { secret: 's' } }, CHANNEL_FIELDS)),
        ),
        await send('POST', `/v1/bots/${bot.id}/broadcasts`, json(broadcastBody())),
        await send('PATCH', `/v1/broadcasts/${broadcast.id}`, json(broadcastBody())),
        await send('POST', `/v1/bots/${bot.id}/contacts/import`, contacts.map(json).join('\n'), 'application/x-ndjson'),
        await send(
          'POST',
          `/v1/bots/${bot.id}/contacts/import`,
          `bot_channel,user_id,${random.pick(['city', 'first_name', 'x y'])}\n${contacts.map((c) => Object.values(c).map(String).join(',')).join('\n')}`,
          'text/csv',
        ),
        await send('GET', `/v1/bots/${bot.id}/contacts?user_id=${queryText()}&cursor=${queryText()}&bot_channel=${queryText()}&limit=${queryText()}`),
      );
    }
    expect(failures).toEqual([]);
    // The garbage was shaped well enough to be judged, not only bounced at the door.
    expect(statuses.filter((s) => s === 400).length).toBeGreaterThan(ROUNDS);
    expect(statuses.some((s) => s === 200 || s === 201)).toBe(true);
  });
});
