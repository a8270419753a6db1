import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Db } from '@herald/db';
import { createTriggerRow, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../testing/admin-app';
import { openApiDocument } from './document';

/**
 * Every admin route's real answers, checked against the served OpenAPI document with a JSON
 * Schema validator (Ajv, draft 2020-12: the dialect of OpenAPI 3.1): success and error
 * answers alike. The response schemas are strict (every field required, no other allowed),
 * so an answer that gains, loses or retypes a field fails here until the document says so.
 */

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
interface Operation {
  responses: Record<string, { content?: { 'application/json'?: { schema: object } } }>;
}

/** Validates an answer against the document's schema for (path, method, status). */
function responseValidator(document: { paths: Record<string, unknown> }) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...document, $id: 'openapi.json' });
  const compiled = new Map<string, ValidateFunction>();
  return (path: string, method: Method, status: number, body: unknown): string[] => {
    const operation = (document.paths[path] as Record<Method, Operation> | undefined)?.[method];
    if (!operation) return [`${method.toUpperCase()} ${path} is not in the document`];
    const response = operation.responses[String(status)];
    if (!response) return [`${method.toUpperCase()} ${path} does not document a ${status} (it documents ${Object.keys(operation.responses).join(', ')})`];
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return body === undefined ? [] : [`${status} documents no body, got ${JSON.stringify(body).slice(0, 200)}`];
    const key = `${method} ${path} ${status}`;
    let validate = compiled.get(key);
    if (!validate) {
      // The document's refs are local (#/components/…): point them at the document added above.
      validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/')));
      compiled.set(key, validate);
    }
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  };
}

describe('the OpenAPI document against real answers of every admin route', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);
  const validate = responseValidator(openApiDocument);
  let db: Db;
  beforeAll(() => {
    db = database.current.db;
  });
  const checked = new Set<string>();

  /** Calls the admin API and checks the answer against the document; returns the body. */
  async function call(
    method: Method,
    template: string,
    params: Record<string, string> = {},
    options: { body?: unknown; query?: string; headers?: Record<string, string>; contentType?: string } = {},
  ) {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? `missing-${name}`);
    const raw = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const response = await fetch(`${admin.url}${path}${options.query ?? ''}`, {
      method: method.toUpperCase(),
      headers: {
        authorization: `Bearer ${KEY}`,
        ...(raw === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
        ...options.headers,
      },
      body: raw,
    });
    const text = await response.text();
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    expect({ route: `${method.toUpperCase()} ${template} → ${response.status}`, problems: validate(template, method, response.status, body) }).toEqual({
      route: `${method.toUpperCase()} ${template} → ${response.status}`,
      problems: [],
    });
    checked.add(`${method} ${template}`);
    return { status: response.status, body: body as any };
  }

  it('answers as documented on every route, successes and errors', async () => {
    const missing = '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11';
    expect((await call('get', '/v1/openapi.json')).status).toBe(200);

    // Bots and channel connections.
    const bot = (await call('post', '/v1/bots', {}, { body: { name: 'Shop bot' } })).body as { id: string };
    expect((await call('post', '/v1/bots', {}, { body: { nme: 'typo' } })).status).toBe(400);
    expect((await call('post', '/v1/bots', {}, { body: { name: 'x' }, headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await call('get', '/v1/bots', {}, { query: '?limit=1' })).body.data).toHaveLength(1);
    const twilio = { provider: 'twilio', credentials: { account_sid: 'AC123', auth_token: 'secret', from: '+15005550006' }, rate_limit_per_second: 5 };
    expect((await call('put', '/v1/bots/{id}/channels/{channel}', { id: bot.id, channel: 'sms' }, { body: twilio })).status).toBe(200);
    expect((await call('put', '/v1/bots/{id}/channels/{channel}', { id: bot.id, channel: 'sms' }, { body: { ...twilio, provider: 'telegram' } })).status).toBe(
      400,
    );
    expect((await call('get', '/v1/bots/{id}', { id: bot.id })).body.channels).toHaveLength(1);
    expect((await call('get', '/v1/bots/{id}', { id: missing })).status).toBe(404);
    expect((await call('get', '/v1/bots/{id}/channels', { id: bot.id })).body.data).toHaveLength(1);
    expect((await call('post', '/v1/bots/{id}/token', { id: bot.id })).body.api_token).toMatch(/^hbt_/);
    expect((await call('post', '/v1/bots/{id}/token', { id: missing })).status).toBe(404);
    expect((await call('delete', '/v1/bots/{id}/token', { id: bot.id })).status).toBe(204);
    expect((await call('delete', '/v1/bots/{id}/token', { id: missing })).status).toBe(404);

    // Contacts: upsert, import, list; a web chat contact's outbox.
    const contacts = [
      { user_id: '42', bot_channel: 'telegram', first_name: 'Ada', variables: { favorite_color: 'red' } },
      { user_id: 'w1', bot_channel: 'web' },
    ];
    expect((await call('post', '/v1/bots/{id}/contacts', { id: bot.id }, { body: { contacts } })).body).toMatchObject({ created: 2 });
    expect((await call('post', '/v1/bots/{id}/contacts', { id: bot.id }, { body: { contacts: [{ user_id: '1' }] } })).status).toBe(400);
    const imported = await call(
      'post',
      '/v1/bots/{id}/contacts/import',
      { id: bot.id },
      { body: 'user_id,bot_channel,plan\n7,telegram,gold\n', contentType: 'text/csv' },
    );
    expect(imported.body).toEqual({ rows: 1, created: 1, updated: 0 });
    expect((await call('post', '/v1/bots/{id}/contacts/import', { id: bot.id }, { body: '{}', contentType: 'application/xml' })).status).toBe(415);
    const listed = await call('get', '/v1/bots/{id}/contacts', { id: bot.id }, { query: '?limit=2' });
    expect(listed.body.data).toHaveLength(2);
    const web = (await call('get', '/v1/bots/{id}/contacts', { id: bot.id }, { query: '?user_id=w1' })).body.data[0] as { id: string };
    expect((await call('get', '/v1/bots/{id}/contacts/{contactId}/outbox', { id: bot.id, contactId: web.id })).body.data).toEqual([]);
    expect(
      (await call('post', '/v1/bots/{id}/contacts/{contactId}/outbox/read', { id: bot.id, contactId: web.id }, { body: { through_id: '1' } })).body,
    ).toEqual({ marked_read: 0 });
    const optedOut = await call('put', '/v1/bots/{id}/contacts/{contactId}/opt-out', { id: bot.id, contactId: web.id }, { body: { reason: 'asked by phone' } });
    expect(optedOut.body).toMatchObject({ opt_out_reason: 'asked by phone' });
    expect((await call('put', '/v1/bots/{id}/contacts/{contactId}/opt-out', { id: bot.id, contactId: web.id }, { body: { reason: '' } })).status).toBe(400);
    expect((await call('get', '/v1/bots/{id}/contacts', { id: bot.id }, { query: '?opted_out=true' })).body.data).toHaveLength(1);
    expect((await call('delete', '/v1/bots/{id}/contacts/{contactId}/opt-out', { id: bot.id, contactId: web.id })).body.opted_out_at).toBeNull();
    expect((await call('delete', '/v1/bots/{id}/contacts/{contactId}/opt-out', { id: bot.id, contactId: '999999' })).status).toBe(404);

    // Broadcasts.
    const created = await call(
      'post',
      '/v1/bots/{id}/broadcasts',
      { id: bot.id },
      {
        body: {
          name: 'Order update',
          message: { text: 'Hi {{first_name}}', channels: { whatsapp: { template: { name: 'order_update', body_parameters: ['{{first_name}}'] } } } },
          audience: { filters: [{ field: 'favorite_color', criteria: 'Equals', value: 'red' }], join: [] },
          allowed_hosts: ['10.0.0.0/8', '::1'],
          max_delay_ms: 60_000,
        },
      },
    );
    expect(created.status).toBe(201);
    const broadcastId = (created.body as { id: string }).id;
    expect((await call('post', '/v1/bots/{id}/broadcasts', { id: bot.id }, { body: { name: 'x', message: { text: 'Hi {{' } } })).status).toBe(400);
    expect((await call('get', '/v1/bots/{id}/broadcasts', { id: bot.id })).body.data).toHaveLength(1);
    expect((await call('get', '/v1/broadcasts/{id}', { id: broadcastId })).status).toBe(200);
    expect((await call('patch', '/v1/broadcasts/{id}', { id: broadcastId }, { body: { enabled: false } })).body.enabled).toBe(false);
    expect((await call('patch', '/v1/broadcasts/{id}', { id: broadcastId }, { body: {} })).status).toBe(400);
    expect((await call('post', '/v1/broadcasts/{id}/rotate-hook', { id: broadcastId })).status).toBe(200);

    // Triggers, runs, deliveries, cancel: a run in delivery, as the worker leaves one.
    const run = await db
      .insertInto('runs')
      .values({ broadcast_id: broadcastId, status: 'delivering', targeted: 2, handed_off: 2, sent: 1, failed: 1 })
      .returning('id')
      .executeTakeFirstOrThrow();
    const rows = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').limit(2).execute();
    await db
      .insertInto('deliveries')
      .values([
        {
          run_id: run.id,
          contact_id: rows[0]!.id,
          channel: 'TelegramChannel',
          status: 'sent',
          provider_message_id: '981',
          text: 'Hi Ada',
          sent_at: new Date(),
        },
        {
          run_id: run.id,
          contact_id: rows[1]!.id,
          channel: 'WebChannel',
          status: 'failed',
          reason: 'provider_rejected',
          error_code: '400',
          last_error: 'Bad Request',
        },
      ])
      .execute();
    const trigger = await createTriggerRow(db, broadcastId, { status: 'dispatched' });
    await db
      .updateTable('triggers')
      .set({ run_id: run.id, notes: JSON.stringify(['a note']) as never })
      .where('id', '=', trigger.id)
      .execute();
    await createTriggerRow(db, broadcastId);
    expect((await call('get', '/v1/triggers/{id}', { id: trigger.id })).body.run_id).toBe(run.id);
    expect((await call('get', '/v1/broadcasts/{id}/triggers', { id: broadcastId }, { query: '?limit=1' })).body.next_cursor).not.toBeNull();
    expect((await call('get', '/v1/broadcasts/{id}/triggers', { id: broadcastId }, { query: '?status=nope' })).status).toBe(400);
    expect((await call('get', '/v1/broadcasts/{id}/runs', { id: broadcastId })).body.data).toHaveLength(1);
    expect((await call('get', '/v1/runs/{id}', { id: run.id })).body.counts).toMatchObject({ sent: 1, failed: 1 });
    expect((await call('get', '/v1/runs/{id}', { id: missing })).status).toBe(404);
    expect((await call('get', '/v1/runs/{id}/deliveries', { id: run.id })).body.data).toHaveLength(2);
    expect((await call('get', '/v1/runs/{id}/deliveries', { id: run.id }, { query: '?reason=provider_rejected' })).body.data).toHaveLength(1);
    const refused = await call('delete', '/v1/bots/{id}', { id: bot.id }); // its run is delivering
    expect([refused.status, refused.body.error.code]).toEqual([409, 'conflict']);
    expect((await call('post', '/v1/broadcasts/{id}/cancel', { id: broadcastId })).body.cancelled_runs).toEqual([run.id]);
    expect((await call('delete', '/v1/broadcasts/{id}', { id: broadcastId })).status).toBe(204);
    expect((await call('delete', '/v1/broadcasts/{id}', { id: broadcastId })).status).toBe(404);
    expect((await call('delete', '/v1/bots/{id}', { id: bot.id })).status).toBe(204);
    expect((await call('delete', '/v1/bots/{id}', { id: bot.id })).status).toBe(404);

    // Every admin operation of the document was called at least once.
    const documented = Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
      path.startsWith('/hooks/') ? [] : (['get', 'post', 'put', 'patch', 'delete'] as const).filter((m) => m in item).map((m) => `${m} ${path}`),
    );
    expect(documented.filter((operation) => !checked.has(operation))).toEqual([]);
  });

  it('catches an answer that drifts from the document', async () => {
    const bot = (await call('post', '/v1/bots', {}, { body: { name: 'Drift' } })).body as { id: string; name: string; created_at: string };
    const { body: run } = await call('get', '/v1/bots/{id}', { id: bot.id });
    expect(validate('/v1/bots/{id}', 'get', 200, run)).toEqual([]);
    // A field renamed, a field added, a type changed: each is a problem.
    const { created_at, ...renamed } = run as Record<string, unknown>;
    expect(validate('/v1/bots/{id}', 'get', 200, { ...renamed, createdAt: created_at })).not.toEqual([]);
    expect(validate('/v1/bots/{id}', 'get', 200, { ...run, secret: 'x' })).not.toEqual([]);
    expect(validate('/v1/bots/{id}', 'get', 200, { ...run, channels: {} })).not.toEqual([]);
    // A status the route does not document.
    expect(validate('/v1/bots/{id}', 'get', 409, {})).toEqual([expect.stringContaining('does not document a 409')]);
  });
});
