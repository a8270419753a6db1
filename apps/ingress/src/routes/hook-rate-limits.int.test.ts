import { createRedis, JobProducer } from '@herald/queue';
import { createMetricsRegistry } from '@herald/service';
import {
  createBotRow,
  createBroadcastRow,
  freePort,
  serveApp,
  testLogger,
  testQueueBackend,
  useTestDatabase,
  useTestRedis,
  type ServedApp,
} from '@herald/testing';
import { createApp } from '../app';
import { createHookDeps } from '../hooks/accept-hook-call';
import { HookBroadcastCache } from '../hooks/broadcast-cache';
import { RedisRateLimiter, type HookRateLimits, type RateLimit } from '../hooks/call-rate-limit';
import { AddressList } from '../hooks/caller-address';
import { RATE_LIMITED_DELAY_MS } from './hooks.route';

/**
 * The hook's abuse limits (issue 13) over real HTTP, with the counters in this file's Redis
 * prefix: per caller address and per broadcast, shared by every ingress process, answered 429
 * with Retry-After, recording nothing; and a Redis that is gone lets calls through.
 */

const logger = testLogger('ingress');

describe('hook rate limits', () => {
  const database = useTestDatabase();
  const redis = useTestRedis();
  const served: ServedApp[] = [];
  const producers: JobProducer[] = [];
  afterAll(async () => {
    await Promise.all(served.map((s) => s.close()));
    await Promise.all(producers.map((p) => p.close()));
  });

  const limiter = (rate: RateLimit, onUnavailable?: (error: Error | null) => void) =>
    new RedisRateLimiter(redis.current.redis, `${redis.current.prefix}:hook-rate`, rate, onUnavailable);

  /** One ingress process; two started with limiters on the same keys are two processes sharing them. */
  async function startIngress(rateLimits: HookRateLimits, rateLimitedDelayMs = 0): Promise<ServedApp> {
    const db = database.current.db;
    const producer = new JobProducer(testQueueBackend(database.current, redis.current));
    producers.push(producer);
    const app = createApp({
      logger,
      checks: {},
      metrics: createMetricsRegistry('ingress-test'),
      hooks: {
        deps: createHookDeps({ db, producer, logger, broadcasts: new HookBroadcastCache(db), maxTargetsPerCall: 10_000, rateLimits }),
        // Callers are told apart by X-Forwarded-For, as behind a load balancer.
        trustedProxies: new AddressList(['127.0.0.1', '::1']),
        bodyLimitBytes: 1024 * 1024,
        // Answered at once here; the last test keeps the default delay.
        rateLimitedDelayMs,
      },
    });
    const server = await serveApp(app);
    served.push(server);
    return server;
  }

  const call = (ingress: ServedApp, token: string, from: string) =>
    fetch(`${ingress.url}/hooks/${token}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: '{}' });

  async function triggerCount(broadcastId: string): Promise<number> {
    const { n } = await database.current.db
      .selectFrom('triggers')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('broadcast_id', '=', broadcastId)
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  it('limits a caller address across ingress processes: 429 with Retry-After, nothing recorded, other addresses unaffected', async () => {
    const rate = { limit: 5, windowMs: 60_000 };
    const rateLimits = { perAddress: limiter(rate), perBroadcast: null };
    const [first, second] = [await startIngress(rateLimits), await startIngress({ perAddress: limiter(rate), perBroadcast: null })];
    const bot = await createBotRow(database.current.db);
    const target = await createBroadcastRow(database.current.db, bot.id);

    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await call(i % 2 ? second : first, target.hook_token, '203.0.113.7')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = await call(first, target.hook_token, '203.0.113.7');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    expect(((await limited.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'too_many_requests',
      message: expect.stringContaining('from this address'),
    });
    expect(await triggerCount(target.id)).toBe(5);

    // Another address is counted apart, on the same broadcast.
    expect((await call(second, target.hook_token, '198.51.100.9')).status).toBe(200);
    expect(await triggerCount(target.id)).toBe(6);
    // A flood of unknown tokens from the limited address is refused before any look-up.
    expect((await call(first, 'x'.repeat(43), '203.0.113.7')).status).toBe(429);
  });

  it('limits a broadcast across callers without touching another broadcast; refused callers spend none of its budget', async () => {
    const ingress = await startIngress({ perAddress: null, perBroadcast: limiter({ limit: 3, windowMs: 60_000 }) });
    const bot = await createBotRow(database.current.db);
    const busy = await createBroadcastRow(database.current.db, bot.id, { allowed_hosts: ['198.51.100.0/24'] });
    const quiet = await createBroadcastRow(database.current.db, bot.id);

    // Callers the broadcast refuses (403) do not count against it.
    for (let i = 0; i < 5; i++) expect((await call(ingress, busy.hook_token, '203.0.113.7')).status).toBe(403);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(ingress, busy.hook_token, `198.51.100.${i + 1}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await call(ingress, busy.hook_token, '198.51.100.77');
    expect(((await limited.json()) as { error: { message: string } }).error.message).toContain('Too many calls to this hook');
    expect(await triggerCount(busy.id)).toBe(3);

    expect((await call(ingress, quiet.hook_token, '198.51.100.1')).status).toBe(200);
    expect(await triggerCount(quiet.id)).toBe(1);
  });

  it('opens a new window when the old one ends', async () => {
    const ingress = await startIngress({ perAddress: limiter({ limit: 1, windowMs: 300 }), perBroadcast: null });
    const bot = await createBotRow(database.current.db);
    const target = await createBroadcastRow(database.current.db, bot.id);
    expect((await call(ingress, target.hook_token, '192.0.2.1')).status).toBe(200);
    const limited = await call(ingress, target.hook_token, '192.0.2.1');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1'); // rounded up to whole seconds
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await call(ingress, target.hook_token, '192.0.2.1')).status).toBe(200);
  });

  it('holds a refused call for a second before its 429, so a flood makes one call a second per connection', async () => {
    const ingress = await startIngress({ perAddress: limiter({ limit: 1, windowMs: 60_000 }), perBroadcast: null }, RATE_LIMITED_DELAY_MS);
    const bot = await createBotRow(database.current.db);
    const target = await createBroadcastRow(database.current.db, bot.id);
    expect((await call(ingress, target.hook_token, '192.0.2.44')).status).toBe(200);
    const started = Date.now();
    const refused = await call(ingress, target.hook_token, '192.0.2.44');
    expect(refused.status).toBe(429);
    expect(Date.now() - started).toBeGreaterThanOrEqual(RATE_LIMITED_DELAY_MS - 50);
    expect(await triggerCount(target.id)).toBe(1);
  });

  it('lets calls through while Redis is unreachable, and says so once per outage', async () => {
    // A producer connection to a port nobody listens on: every command fails at once.
    const gone = createRedis(`redis://127.0.0.1:${await freePort()}`, 'producer');
    const heard: Array<string | null> = [];
    const failing = new RedisRateLimiter(gone, 'herald:hook-rate', { limit: 1, windowMs: 60_000 }, (error) => heard.push(error ? error.message : null));
    try {
      const ingress = await startIngress({ perAddress: failing, perBroadcast: null });
      const bot = await createBotRow(database.current.db);
      const target = await createBroadcastRow(database.current.db, bot.id);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(ingress, target.hook_token, '192.0.2.9')).status);
      expect(statuses).toEqual([200, 200, 200]); // limit 1, but nobody to count with
      expect(await triggerCount(target.id)).toBe(3);
      expect(heard).toHaveLength(1);
      expect(heard[0]).toEqual(expect.any(String));
    } finally {
      gone.disconnect();
    }
  });
});
