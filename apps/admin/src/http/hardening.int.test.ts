import { upsertContacts } from '@herald/db';
import { contactUpsert, createBotRow, createBroadcastRow, createTriggerRow, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminAppWithDashboard } from '../testing/admin-app';
import { encodeCursor } from './pagination';

/**
 * Findings of the security review, over real HTTP on the admin app with its console and queue
 * dashboard: the headers every answer carries, bodies nested too deep, and cursors Postgres
 * would refuse. Each was a missing header or a 500 before.
 */

const bearer = { authorization: `Bearer ${KEY}` };
const basic = { authorization: `Basic ${Buffer.from(`ops:${KEY}`).toString('base64')}` };

const FRAMING_AND_SNIFFING = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-powered-by': null,
};
const headersOf = (response: Response) =>
  Object.fromEntries(
    ['x-content-type-options', 'x-frame-options', 'referrer-policy', 'x-powered-by', 'cache-control'].map((name) => [name, response.headers.get(name)]),
  );

describe('admin app hardening', () => {
  const database = useTestDatabase();
  const admin = useAdminAppWithDashboard(database);

  async function get(path: string, headers: Record<string, string> = bearer) {
    const response = await fetch(`${admin.url}${path}`, { headers });
    const text = await response.text();
    return { response, text, status: response.status };
  }

  it('sends the security headers and no-store on every answer: API, console, dashboard, 404s and errors', async () => {
    const bot = await createBotRow(database.current.db);
    const answers: Array<[string, number, Record<string, string>?]> = [
      ['/v1/bots', 200],
      [`/v1/bots/${bot.id}`, 200],
      ['/v1/openapi.json', 200, {}],
      ['/v1/bots', 401, {}],
      ['/v1/no-such-route', 404],
      ['/no-such-route', 404],
      ['/v1/bots?limit=0', 400],
      ['/console/', 200, basic],
      ['/console/', 401, {}],
      ['/console/nowhere', 404, basic],
      ['/ops/queues', 200, basic],
      ['/ops/queues', 401, {}],
      ['/ops/queues/api/queues', 200],
    ];
    for (const [path, status, headers] of answers) {
      const { response } = await get(path, headers);
      expect([path, response.status, headersOf(response)]).toEqual([path, status, { ...FRAMING_AND_SNIFFING, 'cache-control': 'no-store' }]);
      // The console's own policy replaces the app's, and forbids framing too.
      const policy = response.headers.get('content-security-policy');
      if (path.startsWith('/console')) expect(policy).toMatch(/^default-src 'none';.*frame-ancestors 'none'/);
      else expect([path, policy]).toEqual([path, "frame-ancestors 'none'"]);
    }
  });

  it("keeps the headers on the dashboard's static files, which bull-board lets browsers revalidate", async () => {
    const { text } = await get('/ops/queues', basic);
    const stylesheet = /href="([^"]*static\/css\/[^"]+\.css)"/.exec(text)?.[1];
    expect(stylesheet).toBeDefined();
    const { response } = await get(new URL(stylesheet!, `${admin.url}/ops/queues/`).pathname, basic);
    expect(response.status).toBe(200);
    expect(headersOf(response)).toMatchObject(FRAMING_AND_SNIFFING);
    expect(response.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });

  it('answers 400 bad_request to a JSON body nested thousands deep, at every route that reads one', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(db, bot.id, [contactUpsert('WebChannel', 'deep')]);
    const contact = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).executeTakeFirstOrThrow();
    const deep = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const deepVariables = `{"contacts":[{"user_id":"u","bot_channel":"telegram","variables":{"nested":${deep(5_000)}}}]}`;
    const calls: Array<[string, string, string]> = [
      ['POST', '/v1/bots', '['.repeat(5_000) + ']'.repeat(5_000)],
      ['POST', `/v1/bots/${bot.id}/contacts`, deepVariables], // JSON.stringify of the variable overflowed: a 500
      ['POST', `/v1/bots/${bot.id}/broadcasts`, `{"name":"b","message":{"text":"hi"},"audience":${deep(5_000)}}`],
      ['PATCH', `/v1/broadcasts/${broadcast.id}`, deep(5_000)],
      ['PUT', `/v1/bots/${bot.id}/channels/custom`, `{"provider":"custom","credentials":${deep(5_000)}}`],
      ['PUT', `/v1/bots/${bot.id}/contacts/${contact.id}/opt-out`, deep(5_000)],
      ['POST', `/v1/bots/${bot.id}/contacts/${contact.id}/outbox/read`, deep(5_000)],
    ];
    const send = (method: string, path: string, body: string) =>
      fetch(`${admin.url}${path}`, { method, headers: { ...bearer, 'content-type': 'application/json' }, body });
    for (const [method, path, body] of calls) {
      const response = await send(method, path, body);
      expect([method, path, response.status, await response.json()]).toEqual([
        method,
        path,
        400,
        {
          error: {
            code: 'bad_request',
            message: 'Request body nests objects and arrays more than 64 levels deep',
            details: [{ path: 'body', message: 'nests more than 64 levels deep', expected: 'at most 64 levels of nested objects and arrays' }],
          },
        },
      ]);
    }
    // 64 levels in all still pass: the body, contacts, a contact, variables, then 60 of the value's own.
    const within = await send(
      'POST',
      `/v1/bots/${bot.id}/contacts`,
      `{"contacts":[{"user_id":"u","bot_channel":"telegram","variables":{"nested":${deep(60)}}}]}`,
    );
    expect([within.status, await within.json()]).toEqual([200, { received: 1, created: 1, updated: 0 }]);
  });

  it('answers 400 to a cursor Postgres would refuse, on every list that takes one', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await createTriggerRow(db, broadcast.id);
    await upsertContacts(db, bot.id, [contactUpsert('WebChannel', 'cursor')]);
    const contact = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).executeTakeFirstOrThrow();
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, status: 'completed' }).returning('id').executeTakeFirstOrThrow();

    const pastBigint = '99999999999999999999';
    const createdAt = (created_at: string, id = '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11') => encodeCursor({ created_at, id });
    const lists: Array<[string, string]> = [
      [`/v1/bots/${bot.id}/contacts`, encodeCursor({ id: pastBigint })],
      [`/v1/bots/${bot.id}/contacts/${contact.id}/outbox`, encodeCursor({ id: pastBigint })],
      [`/v1/runs/${run.id}/deliveries`, encodeCursor({ id: pastBigint })],
      [`/v1/broadcasts/${broadcast.id}/triggers`, encodeCursor({ seq: pastBigint })],
      ['/v1/bots', createdAt('-100000-01-01T00:00:00.000Z')],
      ['/v1/bots', createdAt('2026-01-01T00:00:00.000Z', '-'.repeat(36))],
      [`/v1/bots/${bot.id}/broadcasts`, createdAt('-100000-01-01T00:00:00.000Z')],
      [`/v1/broadcasts/${broadcast.id}/runs`, createdAt('-100000-01-01T00:00:00.000Z')],
    ];
    for (const [path, cursor] of lists) {
      const { status, text } = await get(`${path}?cursor=${cursor}`);
      expect([path, status, JSON.parse(text)]).toEqual([
        path,
        400,
        {
          error: {
            code: 'validation_failed',
            message: 'The request is invalid',
            details: [{ path: 'cursor', message: 'is not a cursor this list gave out', expected: 'the next_cursor of the previous page' }],
          },
        },
      ]);
    }
    // The console's lists take the same cursors, and answer with its 400 page.
    for (const [path, cursor] of [
      ['/console/', createdAt('-100000-01-01T00:00:00.000Z')],
      [`/console/broadcasts/${broadcast.id}`, createdAt('-100000-01-01T00:00:00.000Z')],
      [`/console/runs/${run.id}`, encodeCursor({ id: pastBigint })],
    ] as const) {
      const { status, text } = await get(`${path}?cursor=${cursor}`, basic);
      expect([path, status]).toEqual([path, 400]);
      expect(text).toContain('cursor');
    }
  });
});
