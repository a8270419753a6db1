import { JobProducer } from '@herald/queue';
import { createMetricsRegistry } from '@herald/service';
import { createBotRow, createBroadcastRow, serveApp, testLogger, testQueueBackend, useTestDatabase, useTestRedis, type ServedApp } from '@herald/testing';
import { createApp } from './app';
import { createHookDeps } from './hooks/accept-hook-call';
import { HookBroadcastCache } from './hooks/broadcast-cache';

/**
 * The ingress app as a browser would meet it: the probes, a 404 and the hook's own answers
 * carry the headers every Herald answer does (packages/service's createServiceApp sets them
 * before the hot routes and the probes).
 */
describe('ingress security headers', () => {
  const logger = testLogger('ingress');
  const database = useTestDatabase();
  const redis = useTestRedis();
  let producer: JobProducer;
  let ingress: ServedApp;
  beforeAll(async () => {
    const { db } = database.current;
    producer = new JobProducer(testQueueBackend(database.current, redis.current));
    ingress = await serveApp(
      createApp({
        logger,
        checks: {},
        metrics: createMetricsRegistry('ingress-test'),
        hooks: {
          deps: createHookDeps({ db, producer, logger, broadcasts: new HookBroadcastCache(db), maxTargetsPerCall: 10_000 }),
          trustedProxies: null,
          bodyLimitBytes: 1024 * 1024,
        },
      }),
    );
  });
  afterAll(async () => {
    await ingress.close();
    await producer.close();
  });

  it('sends them on the probes, a 404, and the hook answering 404 and 400', async () => {
    const bot = await createBotRow(database.current.db);
    const broadcast = await createBroadcastRow(database.current.db, bot.id);
    const answers: Array<[string, RequestInit, number]> = [
      ['/healthz', {}, 200],
      ['/readyz', {}, 200],
      ['/metrics', {}, 200],
      ['/no-such-route', {}, 404],
      ['/hooks/no-such-token', {}, 404],
      [`/hooks/${broadcast.hook_token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"targets":' }, 400],
    ];
    for (const [path, init, status] of answers) {
      const response = await fetch(`${ingress.url}${path}`, init);
      await response.arrayBuffer();
      const headers = Object.fromEntries(
        ['x-content-type-options', 'x-frame-options', 'content-security-policy', 'referrer-policy', 'x-powered-by'].map((name) => [
          name,
          response.headers.get(name),
        ]),
      );
      expect([path, response.status, headers]).toEqual([
        path,
        status,
        {
          'x-content-type-options': 'nosniff',
          'x-frame-options': 'DENY',
          'content-security-policy': "frame-ancestors 'none'",
          'referrer-policy': 'no-referrer',
          'x-powered-by': null,
        },
      ]);
    }
  });
});
