import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { findRun, upsertChannelConnection, upsertContacts, type ContactUpsert, type Run, type SecretKeyring } from '@herald/db';
import { JobProducer, redisQueueBackend } from '@herald/queue';
import {
  contactUpsert,
  createBotRow,
  createBroadcastRow,
  createTriggerRow,
  useFakeProviders,
  startReadyProcess,
  TEST_REDIS_URL,
  TEST_SECRETS,
  useTestDatabase,
  waitFor,
  type FakeProviders,
  type StartedProcess,
} from '@herald/testing';

/**
 * What the delivery e2e tests share: a database, the fake providers on loopback, real worker
 * processes (killed after each test), and helpers to make an audience, launch a broadcast and
 * wait for its run. Registers its own beforeAll/afterAll/afterEach.
 */
export function useDeliveryKit() {
  const database = useTestDatabase();
  const fakes = useFakeProviders();
  const processes: StartedProcess[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  });

  const kit = {
    database,
    get fake(): FakeProviders {
      return fakes.current;
    },

    /** A worker process allowed to reach the fakes, with fast retries and reconciles. */
    async startWorker(prefix: string, env: Record<string, string> = {}, redisUrl = TEST_REDIS_URL): Promise<StartedProcess> {
      const { process } = await startReadyProcess('worker', {
        DATABASE_URL: database.current.url,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: 'warn',
        OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1',
        RECONCILE_INTERVAL_MS: '500',
        WORKER_STALLED_INTERVAL_MS: '2000',
        DELIVERY_RETRY_BASE_MS: '200',
        ...env,
      });
      processes.push(process);
      return process;
    },

    /**
     * A bot with `contacts` Telegram or custom contacts, connected to the fake at `rate`, its
     * credentials sealed with `secrets` (the key startProcess gives the workers, by default).
     */
    async audience(provider: 'telegram' | 'custom', contacts: number, rate: number | null, secrets: SecretKeyring = TEST_SECRETS) {
      const { db } = database.current;
      const channel = provider === 'telegram' ? 'TelegramChannel' : 'CustomChannel';
      const bot = await createBotRow(db);
      const target = kit.fake.connectionFor(provider);
      await upsertChannelConnection(db, secrets, {
        botId: bot.id,
        channel,
        provider,
        credentials: target.credentials,
        baseUrl: target.baseUrl,
        rateLimitPerSecond: rate,
      });
      for (let from = 0; from < contacts; from += 10_000) {
        const batch: ContactUpsert[] = [];
        for (let i = from; i < Math.min(contacts, from + 10_000); i++) {
          batch.push(contactUpsert(channel, String(100_000 + i), { first_name: `n${i}` }));
        }
        await upsertContacts(db, bot.id, batch);
      }
      const broadcast = await createBroadcastRow(db, bot.id, { text: 'Hello {{first_name}}', delay_ms: 0 });
      return { bot, broadcast };
    },

    /** Accepts a call for the broadcast and fires its timer at once; the run's id. */
    async launch(prefix: string, broadcastId: string, redisUrl = TEST_REDIS_URL): Promise<string> {
      const { db } = database.current;
      await createTriggerRow(db, broadcastId);
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
      const producer = new JobProducer(redisQueueBackend(redis, prefix));
      try {
        await producer.armTimer('broadcast.dispatch', { broadcastId }, 0);
      } finally {
        await producer.close();
        redis.disconnect();
      }
      return waitFor(async () => (await db.selectFrom('runs').select('id').where('broadcast_id', '=', broadcastId).executeTakeFirst())?.id, {
        timeoutMs: 20_000,
        what: 'the run',
      });
    },

    finished(runId: string, timeoutMs: number): Promise<Run> {
      return waitFor(
        async () => {
          const run = await findRun(database.current.db, runId);
          return run && ['completed', 'cancelled'].includes(run.status) ? run : undefined;
        },
        { timeoutMs, intervalMs: 200, what: 'the run to finish' },
      );
    },

    async statusCounts(runId: string): Promise<Record<string, number>> {
      const { rows } = await sql<{ status: string; n: number }>`
        SELECT status, count(*)::int AS n FROM deliveries WHERE run_id = ${runId} GROUP BY status`.execute(database.current.db);
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    },

    /** How many times the custom receiver got each of the run's deliveries (by Idempotency-Key). */
    async receivedPerDelivery(runId: string): Promise<Map<string, number>> {
      const ids = await database.current.db.selectFrom('deliveries').select('id').where('run_id', '=', runId).execute();
      const counts = new Map(ids.map((d) => [d.id, 0]));
      for (const request of kit.fake.requestsOf('custom')) {
        const key = String(request.headers['idempotency-key']);
        const seen = counts.get(key);
        if (seen !== undefined) counts.set(key, seen + 1);
      }
      return counts;
    },
  };
  return kit;
}
