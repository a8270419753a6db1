import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { generateHookToken, HOOK_FIELDS, MAX_FILTERS } from '@herald/core';
import { createDb, toJson, type Broadcast, type Db } from '@herald/db';
import { JobProducer, createQueue, createRedis, redisQueueBackend } from '@herald/queue';
import { createMetricsRegistry } from '@herald/service';
import {
  createBotRow,
  createBroadcastRow,
  freePort,
  GARBAGE_SEED,
  garbageJson,
  garbageObject,
  garbageVariant,
  seededRandom,
  serveApp,
  SPEC_EXAMPLE_HOOK_BODY,
  testBackend,
  testLogger,
  testQueueBackend,
  useTestDatabase,
  useTestRedis,
  VALID_HOOK_BODIES,
  waitFor,
  type BroadcastOverrides,
  type ServedApp,
} from '@herald/testing';
import { createApp } from '../app';
import { createHookDeps } from '../hooks/accept-hook-call';
import { HookBroadcastCache } from '../hooks/broadcast-cache';
import { AddressList } from '../hooks/caller-address';

/**
 * The launch web hook over real HTTP on loopback, against this file's own Postgres database and
 * Redis prefix (or, on the embedded backend, its own PGlite holding the queues too): every
 * status code of SPEC §3, and that a rejected call changes nothing.
 */

/** Tests of Redis itself (down, key prefixes) have no counterpart on the embedded backend. */
const onRedisOnly = testBackend() === 'services' ? it : it.skip;

const logger = testLogger('ingress');

interface IngressOptions {
  db?: Db;
  redis?: Redis;
  trustedProxies?: string[];
  bodyLimitBytes?: number;
  maxTargets?: number;
  notFoundPerMinute?: number;
}

describe('GET|POST /hooks/:token', () => {
  const served: ServedApp[] = [];
  const extraRedis: Redis[] = [];
  const producers: JobProducer[] = [];
  afterAll(async () => {
    await Promise.all(served.map((s) => s.close()));
    await Promise.all(producers.map((p) => p.close()));
    extraRedis.forEach((r) => r.disconnect());
  });
  const database = useTestDatabase();
  const redis = useTestRedis();

  let ingress: ServedApp;
  let botId: string;
  let botToken: string;

  async function startIngress(options: IngressOptions = {}): Promise<ServedApp> {
    const db = options.db ?? database.current.db;
    const producer = new JobProducer(
      options.redis ? redisQueueBackend(options.redis, redis.current.prefix) : testQueueBackend(database.current, redis.current),
    );
    producers.push(producer);
    const app = createApp({
      logger,
      checks: {},
      metrics: createMetricsRegistry('ingress-test'),
      hooks: {
        deps: createHookDeps({ db, producer, logger, broadcasts: new HookBroadcastCache(db), maxTargetsPerCall: options.maxTargets ?? 10_000 }),
        trustedProxies: options.trustedProxies ? new AddressList(options.trustedProxies) : null,
        bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
        ...(options.notFoundPerMinute ? { notFoundPerMinute: options.notFoundPerMinute } : {}),
      },
    });
    const server = await serveApp(app);
    served.push(server);
    return server;
  }

  beforeAll(async () => {
    ingress = await startIngress();
    const bot = await createBotRow(database.current.db);
    botId = bot.id;
    botToken = bot.api_token;
  });

  const broadcast = (overrides: BroadcastOverrides = {}) => createBroadcastRow(database.current.db, botId, overrides);

  function call(target: ServedApp | string, token: string, init: { method?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}) {
    const base = typeof target === 'string' ? target : target.url;
    const body = init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
    return fetch(`${base}/hooks/${token}`, {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'),
      headers: { ...(body !== undefined && init.rawBody === undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body,
    });
  }

  async function triggerCount(broadcastId?: string): Promise<number> {
    let query = database.current.db.selectFrom('triggers').select((eb) => eb.fn.countAll<string>().as('n'));
    if (broadcastId) query = query.where('broadcast_id', '=', broadcastId);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  /** What the queues hold: the Redis keys under the prefix, or the embedded database's jobs. */
  async function redisKeys(): Promise<string[]> {
    if (testBackend() === 'embedded') {
      const { rows } = await sql<{ job: string }>`SELECT queue || ':' || id || ':' || state AS job FROM bullmq.job ORDER BY 1`.execute(database.current.db);
      return rows.map((r) => r.job);
    }
    return (await redis.current.redis.keys(`${redis.current.prefix}:*`)).sort();
  }

  /** The broadcast's pending dispatch jobs and their states, read before the queue closes. */
  async function dispatchJobs(b: Broadcast): Promise<Array<{ state: string }>> {
    const queue = createQueue(testQueueBackend(database.current, redis.current), 'dispatch');
    try {
      const jobs = (await queue.getJobs(['delayed', 'waiting', 'active'])).filter((j) => j.data.broadcastId === b.id);
      return await Promise.all(jobs.map(async (job) => ({ state: await job.getState() })));
    } finally {
      await queue.close();
    }
  }

  async function expectError(response: Response, status: number, code: string) {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: string; message: string; details: unknown[] } };
    expect(body.error).toMatchObject({ code, message: expect.any(String), details: expect.any(Array) });
    return body.error;
  }

  describe('200 scheduled', () => {
    it('accepts a GET: commits the trigger, arms one delayed dispatch, answers with its ids', async () => {
      const b = await broadcast({ delay_ms: 60_000 });
      const before = Date.now();
      const response = await call(ingress, b.hook_token);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, string>;
      expect(body).toEqual({
        status: 'scheduled',
        trigger_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        broadcast_id: b.id,
        scheduled_for: expect.any(String),
      });
      const scheduled = Date.parse(body['scheduled_for']!);
      expect(scheduled).toBeGreaterThanOrEqual(before + 60_000 - 1_000);
      expect(scheduled).toBeLessThanOrEqual(Date.now() + 60_000 + 1_000);

      const trigger = await database.current.db.selectFrom('triggers').selectAll().where('id', '=', body['trigger_id']!).executeTakeFirstOrThrow();
      expect(trigger).toMatchObject({
        broadcast_id: b.id,
        method: 'GET',
        status: 'pending',
        caller_address: '127.0.0.1',
        request: { mode: 'audience', audience: null, set_variables: {}, payload: null },
      });
      const jobs = await dispatchJobs(b);
      expect(jobs).toHaveLength(1);
      expect(jobs[0]!.state).toBe('delayed');
    });

    it('accepts the SPEC example by POST and stores the normalised request', async () => {
      const b = await broadcast();
      const response = await call(ingress, b.hook_token, { body: SPEC_EXAMPLE_HOOK_BODY });
      expect(response.status).toBe(200);
      const { trigger_id } = (await response.json()) as { trigger_id: string };
      const trigger = await database.current.db.selectFrom('triggers').select(['method', 'request']).where('id', '=', trigger_id).executeTakeFirstOrThrow();
      expect(trigger).toEqual({
        method: 'POST',
        request: {
          mode: 'audience',
          audience: {
            filters: [
              { field: 'user_id', criteria: 'Equals', value: '3030391' },
              { field: 'favorite_color', criteria: 'Equals', value: 'red' },
            ],
            join: ['AND'],
          },
          set_variables: { new_favorite_color: 'magenta', discount: '10' },
          payload: null,
        },
      });
    });

    it('accepts an empty POST (no body) as the configured audience, whatever the Content-Type', async () => {
      const b = await broadcast();
      const response = await call(ingress, b.hook_token, { method: 'POST', rawBody: '', headers: { 'content-type': 'text/plain' } });
      expect(response.status).toBe(200);
    });

    it('accepts JSON sent as form-urlencoded (curl -d) when it parses', async () => {
      const b = await broadcast();
      const response = await call(ingress, b.hook_token, {
        rawBody: '{"set_variables":"a","set_variables_values":"1"}',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(response.status).toBe(200);
    });

    it('accepts any JSON object when require_valid_filter is false, keeping it as the payload', async () => {
      const b = await broadcast({ require_valid_filter: false });
      const payload = { order: { id: 'A-17' }, whatever: [1, 2] };
      const response = await call(ingress, b.hook_token, { body: payload });
      expect(response.status).toBe(200);
      const { trigger_id } = (await response.json()) as { trigger_id: string };
      const { request } = await database.current.db.selectFrom('triggers').select('request').where('id', '=', trigger_id).executeTakeFirstOrThrow();
      expect(request).toMatchObject({ mode: 'audience', audience: null, payload });
    });
  });

  describe('404 not found', () => {
    it('answers the same body for an unknown token, a malformed token and a disabled broadcast', async () => {
      const disabled = await broadcast({ enabled: false });
      const bodies = [];
      for (const token of [generateHookToken(), 'not-a-token', disabled.hook_token]) {
        const response = await call(ingress, token, { body: {} });
        expect(response.status).toBe(404);
        bodies.push(await response.json());
      }
      expect(bodies[1]).toEqual(bodies[0]);
      expect(bodies[2]).toEqual(bodies[0]);
      expect(bodies[0]).toEqual({ error: { code: 'not_found', message: 'No enabled broadcast has this hook', details: [] } });
    });

    it('stops answering a rotated token, and starts answering the new one, within 2 s', async () => {
      const b = await broadcast();
      expect((await call(ingress, b.hook_token)).status).toBe(200);
      const rotated = generateHookToken();
      const { hookTokenHint, tokenDigest } = await import('@herald/core');
      await database.current.db
        .updateTable('broadcasts')
        .set({ hook_token_sha256: tokenDigest(rotated), hook_token_hint: hookTokenHint(rotated), hook_rotated_at: new Date() })
        .where('id', '=', b.id)
        .execute();
      const started = Date.now();
      await waitFor(async () => (await call(ingress, b.hook_token)).status === 404, { timeoutMs: 2_000, what: 'the old token to answer 404' });
      await waitFor(async () => (await call(ingress, rotated)).status === 200, { timeoutMs: 2_000, what: 'the new token to answer 200' });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it('answers 404 for a broadcast deleted a moment ago, without failing the calls batched with it', async () => {
      const doomed = await broadcast();
      const healthy = await broadcast();
      expect((await call(ingress, doomed.hook_token)).status).toBe(200); // now cached
      await database.current.db.deleteFrom('broadcasts').where('id', '=', doomed.id).execute();
      const [gone, ...fine] = await Promise.all([
        call(ingress, doomed.hook_token, { body: {} }),
        ...Array.from({ length: 5 }, () => call(ingress, healthy.hook_token, { body: {} })),
      ]);
      expect(gone.status).toBe(404);
      expect(fine.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(await triggerCount(healthy.id)).toBe(5);
    });

    it('fails only the call whose row the database refuses, not the calls batched with it', async () => {
      const { db } = database.current;
      const b = await broadcast();
      // A row Postgres refuses for a reason no check foresaw, standing in for the unforeseen.
      await sql`
        CREATE FUNCTION refuse_marked_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.request -> 'set_variables' ? 'refuse_me' THEN RAISE EXCEPTION 'refused for the test'; END IF;
          RETURN NEW;
        END $$`.execute(db);
      await sql`CREATE TRIGGER refuse_marked BEFORE INSERT ON triggers FOR EACH ROW EXECUTE FUNCTION refuse_marked_trigger()`.execute(db);
      try {
        const [refused, ...fine] = await Promise.all([
          call(ingress, b.hook_token, { body: { set_variables: 'refuse_me', set_variables_values: '1' } }),
          ...Array.from({ length: 5 }, () => call(ingress, b.hook_token, { body: {} })),
        ]);
        expect(refused.status).toBe(500);
        expect(fine.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
        expect(await triggerCount(b.id)).toBe(5);
      } finally {
        await sql`DROP TRIGGER refuse_marked ON triggers`.execute(db);
        await sql`DROP FUNCTION refuse_marked_trigger()`.execute(db);
      }
    });

    it('stops answering within 2 s of the broadcast being disabled', async () => {
      const b = await broadcast();
      expect((await call(ingress, b.hook_token)).status).toBe(200);
      await database.current.db.updateTable('broadcasts').set({ enabled: false }).where('id', '=', b.id).execute();
      await waitFor(async () => (await call(ingress, b.hook_token)).status === 404, { timeoutMs: 2_000, what: 'the disabled hook to answer 404' });
    });
  });

  describe('403 caller not allowed', () => {
    it('checks IPv4 addresses and CIDRs', async () => {
      expect((await call(ingress, (await broadcast({ allowed_hosts: ['10.0.0.0/8', '192.168.1.7'] })).hook_token)).status).toBe(403);
      expect((await call(ingress, (await broadcast({ allowed_hosts: ['10.0.0.0/8', '127.0.0.0/8'] })).hook_token)).status).toBe(200);
      expect((await call(ingress, (await broadcast({ allowed_hosts: ['127.0.0.1'] })).hook_token)).status).toBe(200);
    });

    it('checks IPv6 addresses and CIDRs', async () => {
      const v6 = `http://[::1]:${ingress.port}`;
      const onlyV6Loopback = await broadcast({ allowed_hosts: ['::1'] });
      expect((await call(v6, onlyV6Loopback.hook_token)).status).toBe(200);
      await expectError(await call(ingress, onlyV6Loopback.hook_token), 403, 'forbidden');
      expect((await call(v6, (await broadcast({ allowed_hosts: ['fd00::/8'] })).hook_token)).status).toBe(403);
      expect((await call(v6, (await broadcast({ allowed_hosts: ['::/0'] })).hook_token)).status).toBe(200);
    });

    it('ignores X-Forwarded-For from an untrusted peer (a forged header changes nothing)', async () => {
      const b = await broadcast({ allowed_hosts: ['203.0.113.7'] });
      const error = await expectError(await call(ingress, b.hook_token, { headers: { 'x-forwarded-for': '203.0.113.7' } }), 403, 'forbidden');
      expect(error.message).toContain('127.0.0.1');
    });

    it('believes X-Forwarded-For from a trusted proxy, right to left, skipping trusted hops', async () => {
      const behindProxy = await startIngress({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
      const b = await broadcast({ allowed_hosts: ['203.0.113.7'] });
      // client (forged left part) → 203.0.113.7 → 10.1.2.3 (our proxy) → 127.0.0.1 (socket)
      const headers = { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.1.2.3' };
      expect((await call(behindProxy, b.hook_token, { headers })).status).toBe(200);
      const spoofed = { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' };
      expect((await call(behindProxy, b.hook_token, { headers: spoofed })).status).toBe(403);
    });

    it('answers 429 with Retry-After to an address past its 404s for the minute, before any look-up; others are not held', async () => {
      const limited = await startIngress({ trustedProxies: ['127.0.0.1'], notFoundPerMinute: 3 });
      const scanner = { 'x-forwarded-for': '198.51.100.66' };
      for (let i = 0; i < 3; i++) await expectError(await call(limited, generateHookToken(), { headers: scanner }), 404, 'not_found');
      const held = await call(limited, generateHookToken(), { headers: scanner });
      await expectError(held, 429, 'too_many_requests');
      expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another address still gets its 404s, and its real hooks.
      await expectError(await call(limited, generateHookToken(), { headers: { 'x-forwarded-for': '198.51.100.67' } }), 404, 'not_found');
      expect((await call(limited, (await broadcast()).hook_token, { headers: { 'x-forwarded-for': '198.51.100.67' } })).status).toBe(200);
    });

    it("denies a caller whose forwarded address is malformed instead of taking the proxy's, and reads ip:port", async () => {
      const behindProxy = await startIngress({ trustedProxies: ['127.0.0.1'] });
      // The allow-list names the proxy's own network: what a malformed hop used to fall back to.
      const proxyNetwork = await broadcast({ allowed_hosts: ['127.0.0.0/8'] });
      for (const hop of ['garbage', 'unknown', '8.8.8.8:5555x', '1.2.3', '203.0.113.7, garbage']) {
        const error = await expectError(await call(behindProxy, proxyNetwork.hook_token, { headers: { 'x-forwarded-for': hop } }), 403, 'forbidden');
        expect(error.message).toContain('caller address is unknown');
      }
      // A trusted proxy that appends the port: the address is the caller's.
      const listed = await broadcast({ allowed_hosts: ['8.8.8.8', '2001:db8::1'] });
      expect((await call(behindProxy, listed.hook_token, { headers: { 'x-forwarded-for': '8.8.8.8:5555' } })).status).toBe(200);
      expect((await call(behindProxy, listed.hook_token, { headers: { 'x-forwarded-for': '[2001:db8::1]:443' } })).status).toBe(200);
      expect((await call(behindProxy, proxyNetwork.hook_token, { headers: { 'x-forwarded-for': '8.8.8.8:5555' } })).status).toBe(403);
      // A broadcast with no allow-list still takes the call, with no caller address recorded.
      const open = await broadcast();
      expect((await call(behindProxy, open.hook_token, { headers: { 'x-forwarded-for': 'garbage' } })).status).toBe(200);
      const [trigger] = await database.current.db.selectFrom('triggers').select('caller_address').where('broadcast_id', '=', open.id).execute();
      expect(trigger!.caller_address).toBeNull();
    });
  });

  describe('405 and 401', () => {
    it('refuses a method the broadcast does not allow, naming the allowed ones', async () => {
      const postOnly = await broadcast({ allow_get: false });
      const response = await call(ingress, postOnly.hook_token);
      await expectError(response, 405, 'method_not_allowed');
      expect(response.headers.get('allow')).toBe('POST');
      const getOnly = await broadcast({ allow_post: false });
      expect((await call(ingress, getOnly.hook_token, { body: {} })).status).toBe(405);
      expect((await call(ingress, getOnly.hook_token, { method: 'PUT', body: {} })).headers.get('allow')).toBe('GET');
      expect((await call(ingress, getOnly.hook_token)).status).toBe(200);
    });

    it("requires the bot's API token outside direct mode", async () => {
      const b = await broadcast({ direct_mode: false });
      const missing = await call(ingress, b.hook_token);
      await expectError(missing, 401, 'unauthorized');
      expect(missing.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await call(ingress, b.hook_token, { headers: { authorization: `Bearer ${botToken}x` } });
      expect(wrong.status).toBe(401);
      const right = await call(ingress, b.hook_token, { headers: { authorization: `Bearer ${botToken}` } });
      expect(right.status).toBe(200);
    });

    it('checks the address before the method, and the method before the body', async () => {
      const b = await broadcast({ allowed_hosts: ['10.0.0.1'], allow_post: false });
      expect((await call(ingress, b.hook_token, { rawBody: 'not json', headers: { 'content-type': 'application/json' } })).status).toBe(403);
      const c = await broadcast({ allow_post: false });
      expect((await call(ingress, c.hook_token, { rawBody: 'not json', headers: { 'content-type': 'application/json' } })).status).toBe(405);
    });
  });

  describe('413, 415 and 400', () => {
    it('refuses a body over the limit with 413', async () => {
      const small = await startIngress({ bodyLimitBytes: 2048 });
      const b = await broadcast();
      const big = { set_variables: 'note', set_variables_values: ['x'.repeat(4096)] };
      await expectError(await call(small, b.hook_token, { body: big }), 413, 'payload_too_large');
    });

    it('refuses a body that is not JSON with 415', async () => {
      const b = await broadcast();
      const xml = await call(ingress, b.hook_token, { rawBody: '<a/>', headers: { 'content-type': 'application/xml' } });
      const error = await expectError(xml, 415, 'unsupported_media_type');
      expect(error.details).toEqual([{ path: 'content-type', message: 'is application/xml', expected: 'application/json' }]);
    });

    it('refuses JSON nested thousands deep with 400, not a 500, and records nothing', async () => {
      const b = await broadcast();
      const before = await triggerCount(b.id);
      for (const rawBody of ['['.repeat(5_000) + ']'.repeat(5_000), `{"payload":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`]) {
        const error = await expectError(await call(ingress, b.hook_token, { rawBody, headers: { 'content-type': 'application/json' } }), 400, 'bad_request');
        expect(error.message).toContain('levels deep');
      }
      expect(await triggerCount(b.id)).toBe(before);
    });

    it('refuses malformed JSON with 400 saying where it breaks, whatever curl -d called it', async () => {
      const b = await broadcast();
      for (const type of ['application/json', 'application/x-www-form-urlencoded', 'text/plain']) {
        const error = await expectError(await call(ingress, b.hook_token, { rawBody: 'a=1&b=2', headers: { 'content-type': type } }), 400, 'bad_request');
        expect(error.details).toEqual([expect.objectContaining({ path: 'body', message: expect.stringMatching(/position \d+|Unexpected token/) })]);
      }
    });

    it('refuses an invalid payload with 400 naming each bad field', async () => {
      const b = await broadcast();
      const response = await call(ingress, b.hook_token, {
        body: { audience_filters: 'a;b', audience_criteria: 'Equals;Near', audience_values: '1', targets: 3 },
      });
      const error = await expectError(response, 400, 'validation_failed');
      expect(error.details.map((d) => (d as { path: string }).path)).toEqual(['audience_filters', 'audience_criteria', 'audience_values', 'targets']);
    });

    it("refuses more filters than an audience may have (the admin API's bound) with 400, recording nothing", async () => {
      const b = await broadcast();
      // A 250 KB call that was once accepted, then failed every dispatch of its broadcast.
      const filters = (n: number) => ({
        audience_filters: Array(n).fill('tier').join(';'),
        audience_criteria: 'Equals',
        audience_values: Array(n).fill('gold'),
        audience_join: 'or',
      });
      const error = await expectError(await call(ingress, b.hook_token, { body: filters(25_000) }), 400, 'validation_failed');
      expect(error.details).toEqual([{ path: 'audience_filters', message: 'has 25000 filters', expected: `at most ${MAX_FILTERS}` }]);
      expect(await triggerCount(b.id)).toBe(0);
      expect((await call(ingress, b.hook_token, { body: filters(MAX_FILTERS) })).status).toBe(200);
      expect(await triggerCount(b.id)).toBe(1);
    });

    it('refuses text Postgres cannot store (NUL, lone surrogates) with 400, in either mode, failing no neighbour', async () => {
      const strict = await broadcast();
      const lenient = await broadcast({ require_valid_filter: false });
      // Sent as raw JSON escapes: what a caller's bytes would say.
      const [nul, surrogate, lenientNul, ...fine] = await Promise.all([
        call(ingress, strict.hook_token, {
          rawBody: '{"set_variables":"x","set_variables_values":"A\\u0000B"}',
          headers: { 'content-type': 'application/json' },
        }),
        call(ingress, strict.hook_token, {
          rawBody: '{"audience_filters":"x","audience_criteria":"Equals","audience_values":"\\ud800"}',
          headers: { 'content-type': 'application/json' },
        }),
        call(ingress, lenient.hook_token, { rawBody: '{"order":{"note":"\\u0000"}}', headers: { 'content-type': 'application/json' } }),
        ...Array.from({ length: 5 }, () => call(ingress, strict.hook_token, { body: {} })),
      ]);
      expect((await expectError(nul, 400, 'validation_failed')).details).toEqual([
        expect.objectContaining({ path: 'set_variables_values', message: expect.stringMatching(/U\+0000/) }),
      ]);
      expect((await expectError(surrogate, 400, 'validation_failed')).details).toEqual([expect.objectContaining({ path: 'audience_values' })]);
      expect((await expectError(lenientNul, 400, 'validation_failed')).details).toEqual([expect.objectContaining({ path: 'order.note' })]);
      expect(fine.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(await triggerCount(strict.id)).toBe(5);
      expect(await triggerCount(lenient.id)).toBe(0);
    });

    it('refuses a targets call with any bad target, listing the bad indexes', async () => {
      const b = await broadcast();
      const targets = [
        { user_id: '1', bot_channel: 'telegram' },
        { user_id: '2', bot_channel: 'pigeon' },
        { user_id: '3', bot_channel: 'telegram' },
        { bot_channel: 'whatsapp' },
      ];
      const error = await expectError(await call(ingress, b.hook_token, { body: { targets } }), 400, 'validation_failed');
      expect(error.details.map((d) => (d as { path: string }).path)).toEqual(['targets[1].bot_channel', 'targets[3].user_id']);
    });

    it('refuses a call that would take a named contact past the bound on variables, recording nothing', async () => {
      const { db } = database.current;
      const b = await broadcast();
      const vars = (from: number, n: number, value = 'x') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`v_${from + i}`, value]));
      // Three earlier calls' worth of variables, applied: 450.
      await db
        .insertInto('contacts')
        .values({ bot_id: botId, bot_channel: 'TelegramChannel', user_id: 'full', variables: toJson(vars(0, 450)) })
        .execute();
      const stored = async () =>
        (await db.selectFrom('contacts').select('variables').where('bot_id', '=', botId).where('user_id', '=', 'full').executeTakeFirstOrThrow()).variables;
      const target = (variables: Record<string, string>) => ({
        targets: [
          { user_id: 'other', bot_channel: 'telegram' },
          { user_id: 'full', bot_channel: 'telegram', variables },
        ],
      });

      // A fourth call adding 100 more: 550.
      const error = await expectError(await call(ingress, b.hook_token, { body: target(vars(450, 100)) }), 400, 'validation_failed');
      expect(error.details).toEqual([
        { path: 'targets[1].variables', message: expect.stringContaining('"full"'), expected: 'at most 512 variables and 1048576 bytes of them per contact' },
      ]);
      // set_conversation names its contact too.
      const names = Object.keys(vars(450, 100));
      const conversation = {
        set_conversation: true,
        user_id: 'full',
        bot_channel: 'telegram',
        set_variables: names.join(';'),
        set_variables_values: names.map(() => 'x').join(';'),
      };
      expect((await expectError(await call(ingress, b.hook_token, { body: conversation }), 400, 'validation_failed')).details).toEqual([
        expect.objectContaining({ path: 'set_variables' }),
      ]);
      expect(await triggerCount(b.id)).toBe(0);
      expect(Object.keys(await stored())).toHaveLength(450);

      // What stays within it passes: 62 new ones (512 in all), or 100 it already holds.
      expect((await call(ingress, b.hook_token, { body: target(vars(450, 62)) })).status).toBe(200);
      expect((await call(ingress, b.hook_token, { body: target(vars(0, 100, 'y')) })).status).toBe(200);
      expect(await triggerCount(b.id)).toBe(2);

      // Bytes count as well: 15 values of 64 KiB held, two more would pass 1 MiB.
      const big = 'z'.repeat(64 * 1024 - 16);
      await db
        .updateTable('contacts')
        .set({ variables: toJson(vars(0, 15, big)) })
        .where('bot_id', '=', botId)
        .where('user_id', '=', 'full')
        .execute();
      await expectError(await call(ingress, b.hook_token, { body: target(vars(100, 2, big)) }), 400, 'validation_failed');
      expect((await call(ingress, b.hook_token, { body: target(vars(100, 1, big)) })).status).toBe(200);
      expect(await triggerCount(b.id)).toBe(3);
    });

    it('honours the configured maximum of targets per call', async () => {
      const limited = await startIngress({ maxTargets: 2 });
      const b = await broadcast();
      const targets = [1, 2, 3].map((i) => ({ user_id: String(i), bot_channel: 'web' }));
      await expectError(await call(limited, b.hook_token, { body: { targets } }), 400, 'validation_failed');
    });
  });

  describe('a rejected call changes nothing', () => {
    it('leaves Postgres and Redis exactly as they were, whatever the rejection', async () => {
      const small = await startIngress({ bodyLimitBytes: 2048 });
      const postOnly = await broadcast({ allow_get: false });
      const guarded = await broadcast({ direct_mode: false });
      const walled = await broadcast({ allowed_hosts: ['10.0.0.0/8'] });
      const disabled = await broadcast({ enabled: false });
      const open = await broadcast();
      const rejections: Array<[number, () => Promise<Response>]> = [
        [404, () => call(ingress, generateHookToken(), { body: {} })],
        [404, () => call(ingress, disabled.hook_token, { body: {} })],
        [403, () => call(ingress, walled.hook_token, { body: {} })],
        [405, () => call(ingress, postOnly.hook_token)],
        [401, () => call(ingress, guarded.hook_token, { body: {} })],
        [413, () => call(small, open.hook_token, { body: { set_variables: 'x', set_variables_values: ['y'.repeat(5000)] } })],
        [415, () => call(ingress, open.hook_token, { rawBody: '<x/>', headers: { 'content-type': 'text/xml' } })],
        [400, () => call(ingress, open.hook_token, { rawBody: '[', headers: { 'content-type': 'application/json' } })],
        [400, () => call(ingress, open.hook_token, { body: { audience_filters: 'x' } })],
        [400, () => call(ingress, open.hook_token, { body: { targets: [{ user_id: 'a' }] } })],
      ];
      const triggersBefore = await triggerCount();
      const keysBefore = await redisKeys();
      for (const [status, send] of rejections) expect((await send()).status).toBe(status);
      expect(await triggerCount()).toBe(triggersBefore);
      expect(await redisKeys()).toEqual(keysBefore);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first answer to a retry without a second trigger', async () => {
      const b = await broadcast();
      const headers = { 'idempotency-key': 'crm-order-17' };
      const first = await call(ingress, b.hook_token, { body: {}, headers });
      const second = await call(ingress, b.hook_token, { body: {}, headers });
      expect(second.status).toBe(200);
      expect(await second.json()).toEqual(await first.json());
      expect(await triggerCount(b.id)).toBe(1);
      // Another key is another call.
      await call(ingress, b.hook_token, { body: {}, headers: { 'idempotency-key': 'crm-order-18' } });
      expect(await triggerCount(b.id)).toBe(2);
    });

    it('gives concurrent retries one trigger and one answer', async () => {
      const b = await broadcast();
      const headers = { 'idempotency-key': 'burst-1' };
      const responses = await Promise.all(Array.from({ length: 10 }, () => call(ingress, b.hook_token, { body: {}, headers })));
      const bodies = await Promise.all(responses.map((r) => r.json()));
      expect(responses.every((r) => r.status === 200)).toBe(true);
      expect(new Set(bodies.map((body) => JSON.stringify(body))).size).toBe(1);
      expect(await triggerCount(b.id)).toBe(1);
    });

    it('scopes keys to the broadcast and expires them after 24 h', async () => {
      const a = await broadcast();
      const b = await broadcast();
      const headers = { 'idempotency-key': 'same-key' };
      await call(ingress, a.hook_token, { body: {}, headers });
      await call(ingress, b.hook_token, { body: {}, headers });
      expect([await triggerCount(a.id), await triggerCount(b.id)]).toEqual([1, 1]);
      await database.current.db
        .updateTable('idempotency_keys')
        .set({ created_at: new Date(Date.now() - 25 * 3600_000) })
        .where('broadcast_id', '=', a.id)
        .execute();
      expect((await call(ingress, a.hook_token, { body: {}, headers })).status).toBe(200);
      expect(await triggerCount(a.id)).toBe(2);
    });

    it('refuses an oversized key with 400', async () => {
      const b = await broadcast();
      await expectError(await call(ingress, b.hook_token, { body: {}, headers: { 'idempotency-key': 'k'.repeat(256) } }), 400, 'validation_failed');
    });
  });

  describe('when a dependency is down', () => {
    it('answers 503 with Retry-After and records nothing when Postgres is unreachable', async () => {
      const b = await broadcast();
      const downDb = createDb({ url: `postgres://postgres@127.0.0.1:${await freePort()}/herald`, connectTimeoutMs: 500 });
      const noDb = await startIngress({ db: downDb });
      const keysBefore = await redisKeys();
      const response = await call(noDb, b.hook_token, { body: {} });
      await expectError(response, 503, 'service_unavailable');
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await triggerCount(b.id)).toBe(0);
      expect(await redisKeys()).toEqual(keysBefore);
      await downDb.destroy();
    });

    onRedisOnly('still accepts (and records) a call when Redis is unreachable: the trigger is durable', async () => {
      const b = await broadcast();
      const downRedis = createRedis(`redis://127.0.0.1:${await freePort()}`, 'producer');
      extraRedis.push(downRedis);
      const noRedis = await startIngress({ redis: downRedis });
      const response = await call(noRedis, b.hook_token, { body: {} });
      expect(response.status).toBe(200);
      expect(await triggerCount(b.id)).toBe(1);
    });
  });

  describe('garbage', () => {
    it(`answers every one of 400 random bodies with 200 or a 4xx, and records exactly the 200s (seed ${GARBAGE_SEED})`, async () => {
      const random = seededRandom(GARBAGE_SEED);
      const strict = await broadcast();
      const lenient = await broadcast({ require_valid_filter: false });
      const statuses = new Map<number, number>();
      const accepted = { [strict.id]: 0, [lenient.id]: 0 };
      for (let i = 0; i < 400; i++) {
        const target = random.chance(0.5) ? strict : lenient;
        const body = random.chance(0.9)
          ? JSON.stringify(
              random.pick([
                () => garbageVariant(random, random.pick(VALID_HOOK_BODIES), HOOK_FIELDS),
                () => garbageObject(random, HOOK_FIELDS),
                () => garbageJson(random),
              ])(),
            )
          : random.pick(['{', '{"a":1}}', '\u0000', 'not json', '[]', '""', '{"a":"\\ud800"}']);
        const contentType = random.pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded']);
        const response = await call(ingress, target.hook_token, { rawBody: body, headers: { 'content-type': contentType } });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500) throw new Error(`seed ${GARBAGE_SEED}, call ${i}: ${response.status} for ${contentType} ${body.slice(0, 300)}`);
        if (response.status === 200) accepted[target.id]!++;
      }
      expect([...statuses.keys()].every((status) => [200, 400, 415].includes(status))).toBe(true);
      expect(statuses.get(200)).toBeGreaterThan(0); // the lenient broadcast takes most objects
      expect(statuses.get(400)).toBeGreaterThan(0);
      expect(await triggerCount(strict.id)).toBe(accepted[strict.id]);
      expect(await triggerCount(lenient.id)).toBe(accepted[lenient.id]);
    });
  });

  onRedisOnly('uses the shared Redis only under its own prefix', async () => {
    const keys = await redisKeys();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith(`${redis.current.prefix}:`))).toBe(true);
  });
});
