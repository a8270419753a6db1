import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { JobProducer, redisQueueBackend } from '@herald/queue';
import {
  createBotRow,
  createBroadcastRow,
  createTriggerRow,
  startReadyProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  waitFor,
  type StartedProcess,
} from '@herald/testing';

/**
 * `docker compose up --scale worker=N`: several worker processes on the same queues share the
 * dispatches — each broadcast's pending calls make exactly one run with exactly its contacts,
 * whichever worker takes it, and the work is spread over the workers.
 */

const BROADCASTS = 40;
const CONTACTS_PER_SEGMENT = 500;
const SEGMENTS = 8;

describe('two worker processes on the same queues', () => {
  const database = useTestDatabase();
  const prefix = testQueuePrefix();
  const workers: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  });

  async function startWorker() {
    const { process: worker } = await startReadyProcess('worker', {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: '1', // one job at a time each: the spread is the workers', not a pool's
    });
    workers.push(worker);
    return worker;
  }

  it('runs every broadcast exactly once, with exactly its contacts, spread over both', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    await sql`
      INSERT INTO contacts (bot_id, bot_channel, user_id, variables)
      SELECT ${bot.id}, 'TelegramChannel', 'u' || i, jsonb_build_object('segment', (i % ${SEGMENTS})::text)
      FROM generate_series(1, ${CONTACTS_PER_SEGMENT * SEGMENTS}) AS i`.execute(db);
    const broadcasts = [];
    for (let b = 0; b < BROADCASTS; b++) {
      const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 0 });
      // Three calls per broadcast on two segments (one twice): one run, two segments' contacts.
      for (const segment of [b % SEGMENTS, (b + 1) % SEGMENTS, b % SEGMENTS]) {
        await createTriggerRow(db, broadcast.id, {
          request: {
            mode: 'audience',
            audience: { filters: [{ field: 'segment', criteria: 'Equals', value: String(segment) }], join: [] },
            set_variables: {},
            payload: null,
          },
        });
      }
      broadcasts.push(broadcast);
    }
    const [first, second] = [await startWorker(), await startWorker()];

    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const producer = new JobProducer(redisQueueBackend(redis, prefix));
    try {
      await Promise.all(broadcasts.map((b) => producer.armTimer('broadcast.dispatch', { broadcastId: b.id }, 0)));
      await waitFor(
        async () => {
          const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM runs WHERE status IN ('delivering', 'completed')`.execute(db);
          return rows[0]!.n === BROADCASTS || undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'every broadcast to be dispatched' },
      );
    } finally {
      await producer.close();
      redis.disconnect();
    }

    const { rows } = await sql<{ broadcast_id: string; runs: number; deliveries: number; contacts: number }>`
      SELECT r.broadcast_id, count(DISTINCT r.id)::int AS runs, count(d.id)::int AS deliveries, count(DISTINCT d.contact_id)::int AS contacts
      FROM runs r LEFT JOIN deliveries d ON d.run_id = r.id
      GROUP BY r.broadcast_id`.execute(db);
    expect(rows).toHaveLength(BROADCASTS);
    for (const row of rows) {
      expect(row).toMatchObject({ runs: 1, deliveries: 2 * CONTACTS_PER_SEGMENT, contacts: 2 * CONTACTS_PER_SEGMENT });
    }
    const { rows: triggers } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM triggers GROUP BY status`.execute(db);
    expect(triggers).toEqual([{ status: 'dispatched', n: 3 * BROADCASTS }]);

    const dispatchedBy = (worker: StartedProcess) =>
      worker
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { message?: string; outcome?: string })
        .filter((entry) => entry.message === 'broadcast.dispatch finished' && entry.outcome === 'dispatched').length;
    const [byFirst, bySecond] = [dispatchedBy(first), dispatchedBy(second)];
    expect(byFirst + bySecond).toBe(BROADCASTS);
    expect(byFirst).toBeGreaterThan(0);
    expect(bySecond).toBeGreaterThan(0);
  }, 120_000);
});
