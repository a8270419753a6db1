import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { upsertContacts } from '@herald/db';
import { JobProducer, redisQueueBackend } from '@herald/queue';
import {
  contactUpsert,
  createBotRow,
  createBroadcastRow,
  freePort,
  proxyInFrontOf,
  startReadyProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  waitFor,
  type StartedProcess,
} from '@herald/testing';

/**
 * SPEC §7 with a real `FLUSHALL`, on a Redis server of this file's own (the shared one serves
 * the other test files), real ingress and worker processes, and the default reconcile interval
 * (10 s): a call accepted before the flush still makes its run, within delay_ms + 30 s; and the
 * delivery chunks a flush takes after the hand-off come back from Postgres.
 */

const DELAY_MS = 2_000;
const SPEC_BOUND_MS = DELAY_MS + 30_000;

describe('Redis flushed (FLUSHALL) under running processes', () => {
  const database = useTestDatabase();
  let server: ChildProcess | undefined;
  let redis: Redis | undefined;
  const processes: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    redis?.disconnect();
    server?.kill('SIGKILL');
  });

  it('loses neither the accepted call nor the handed-off chunks', async () => {
    const { db, url } = database.current;
    const redisPort = await freePort();
    server = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    await waitFor(() => redis!.status === 'ready', { timeoutMs: 10_000, what: 'the private Redis' });

    const env = { DATABASE_URL: url, REDIS_URL: redisUrl, QUEUE_PREFIX: testQueuePrefix(), LOG_LEVEL: 'warn' };
    const { process: ingress, port: ingressPort } = await startReadyProcess('ingress', env);
    processes.push(ingress);
    // Dispatch only: the handed-off chunks stay in their queue for the test to watch.
    processes.push((await startReadyProcess('worker', { ...env, WORKER_QUEUES: 'dispatch,maintenance' })).process);

    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: DELAY_MS });
    await upsertContacts(
      db,
      bot.id,
      ['a', 'b', 'c'].map((userId) => contactUpsert('TelegramChannel', userId)),
    );

    // 1. A call accepted, then everything in Redis gone before its timer fires.
    const called = await fetch(`http://127.0.0.1:${ingressPort}/hooks/${broadcast.hook_token}`, { method: 'POST' });
    expect(called.status).toBe(200);
    const calledAt = Date.now();
    expect(await redis.flushall()).toBe('OK');

    const runOf = () => db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcast.id).executeTakeFirst();
    const run = await waitFor(
      async () => {
        const found = await runOf();
        return found?.status === 'delivering' ? found : undefined;
      },
      { timeoutMs: SPEC_BOUND_MS + 5_000, intervalMs: 100, what: 'the run after FLUSHALL' },
    );
    const runAfterMs = Date.now() - calledAt;
    expect(runAfterMs).toBeLessThan(SPEC_BOUND_MS);
    expect(run).toMatchObject({ targeted: 3, handed_off: 3 });

    // 2. The run's chunk is in its queue; a second FLUSHALL takes it; the reconciler puts it back.
    const producer = new JobProducer(redisQueueBackend(redis, env.QUEUE_PREFIX));
    try {
      const chunkIds = async () => (await producer.queue('deliver-telegram').getJobs(['waiting'])).map((job) => job.id).sort();
      const before = await chunkIds();
      expect(before).toHaveLength(1);
      expect(await redis.flushall()).toBe('OK');
      const flushedAt = Date.now();
      expect(await chunkIds()).toEqual([]);
      await waitFor(async () => ((await chunkIds()).length > 0 ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'the chunk to come back',
      });
      expect(await chunkIds()).toEqual(before);
      // With the default 10 s reconcile interval: the run came runAfterMs after the call, the
      // chunk back (Date.now() - flushedAt) after the flush. Logged for the closing figures.
      console.info(`run ${runAfterMs} ms after the call; chunk back ${Date.now() - flushedAt} ms after the flush`);
    } finally {
      await producer.close();
    }
  }, 90_000);
});

describe('Redis cut from under a running ingress', () => {
  const database = useTestDatabase();
  const processes: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  });

  it('keeps accepting calls, and every call made while Redis was away still gets its run', async () => {
    const { db, url } = database.current;
    const redis = await proxyInFrontOf(TEST_REDIS_URL);
    try {
      const prefix = testQueuePrefix();
      const common = { DATABASE_URL: url, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' };
      // Only the ingress goes through the proxy; the worker (and its reconciler) keeps Redis.
      const { process: ingress, port: ingressPort } = await startReadyProcess('ingress', { ...common, REDIS_URL: redis.url });
      processes.push(ingress);
      processes.push((await startReadyProcess('worker', { ...common, REDIS_URL: TEST_REDIS_URL, RECONCILE_INTERVAL_MS: '500' })).process);

      const bot = await createBotRow(db);
      const [before, during, after] = [
        await createBroadcastRow(db, bot.id, { delay_ms: 500 }),
        await createBroadcastRow(db, bot.id, { delay_ms: 500 }),
        await createBroadcastRow(db, bot.id, { delay_ms: 500 }),
      ];
      const hook = async (token: string) => (await fetch(`http://127.0.0.1:${ingressPort}/hooks/${token}`, { method: 'POST' })).status;

      expect(await hook(before.hook_token)).toBe(200);
      redis.proxy.cut();
      expect(await hook(during.hook_token)).toBe(200); // durable in Postgres; no timer armed
      redis.proxy.restore();
      // The ingress's Redis comes back by itself: a call now arms its timer again.
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ingressPort}/readyz`)).status === 200 || undefined, {
        timeoutMs: 15_000,
        what: 'the ingress ready again',
      });
      expect(await hook(after.hook_token)).toBe(200);

      for (const broadcast of [before, during, after]) {
        await waitFor(
          async () =>
            (await db.selectFrom('runs').select('status').where('broadcast_id', '=', broadcast.id).executeTakeFirst())?.status === 'completed' || undefined,
          { timeoutMs: 20_000, intervalMs: 100, what: `the run of the call made ${broadcast === during ? 'while Redis was away' : 'around the cut'}` },
        );
      }
    } finally {
      await redis.proxy.close();
    }
  }, 90_000);
});
