import { createBotRow, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY, useAdminApp } from '../testing/admin-app';

/**
 * Read-only admin keys (ADMIN_READ_ONLY_API_KEYS, issue 13): the console and the GET routes
 * for people and tools that look but must not touch; anything else is a 403 that changes
 * nothing. And the body limit every JSON route shares.
 */

const READ_ONLY_KEY = 'read-only-key-for-the-dashboard-team';

describe('read-only admin keys', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database, () => ({ readOnlyApiKeys: ['another-read-only-key-0123', READ_ONLY_KEY] }));
  const as = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

  async function botCount(): Promise<number> {
    const { n } = await database.current.db
      .selectFrom('bots')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  it('reads the API and the console, and is refused every change with a 403 that changes nothing', async () => {
    const bot = await createBotRow(database.current.db, { name: 'Shop bot' });
    const list = await fetch(`${admin.url}/v1/bots`, { headers: as(READ_ONLY_KEY) });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { data: Array<{ id: string }> }).data.map((b) => b.id)).toContain(bot.id);
    expect((await fetch(`${admin.url}/v1/bots/${bot.id}`, { method: 'HEAD', headers: as(READ_ONLY_KEY) })).status).toBe(200);
    const console = await fetch(`${admin.url}/console/`, { headers: { authorization: `Basic ${Buffer.from(`ops:${READ_ONLY_KEY}`).toString('base64')}` } });
    expect(console.status).toBe(200);

    const before = await botCount();
    const writes: Array<[string, string, unknown]> = [
      ['POST', '/v1/bots', { name: 'Sneaky bot' }],
      ['PATCH', `/v1/bots/${bot.id}`, { name: 'Renamed' }],
      ['POST', `/v1/bots/${bot.id}/token`, undefined],
      ['DELETE', `/v1/bots/${bot.id}`, undefined],
    ];
    for (const [method, path, body] of writes) {
      const response = await fetch(`${admin.url}${path}`, { method, headers: as(READ_ONLY_KEY), ...(body ? { body: JSON.stringify(body) } : {}) });
      expect([method, path, response.status]).toEqual([method, path, 403]);
      expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'forbidden',
        message: 'This key is read-only: it may read (GET) but not change anything',
      });
    }
    expect(await botCount()).toBe(before);
    const unchanged = await database.current.db.selectFrom('bots').select(['name', 'api_token_sha256']).where('id', '=', bot.id).executeTakeFirstOrThrow();
    expect(unchanged.name).toBe('Shop bot');

    // The full key still changes things; a key that is neither is a 401.
    expect((await fetch(`${admin.url}/v1/bots`, { method: 'POST', headers: as(ADMIN_TEST_KEY), body: '{"name":"Real bot"}' })).status).toBe(201);
    expect((await fetch(`${admin.url}/v1/bots`, { headers: as('read-only-key-for-the-dashboard-tea') })).status).toBe(401);
  });

  it('refuses a JSON body over 16 MB on any route with a 413, before reading it all', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(17 * 1024 * 1024) });
    const response = await fetch(`${admin.url}/v1/bots`, { method: 'POST', headers: as(ADMIN_TEST_KEY), body: big });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });
});
