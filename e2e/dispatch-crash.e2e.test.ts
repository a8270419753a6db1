import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { JobProducer, redisQueueBackend } from '@herald/queue';
import {
  createBotRow,
  createBroadcastRow,
  createTriggerRow,
  proxyInFrontOf,
  startReadyProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  waitFor,
  type StartedProcess,
} from '@herald/testing';

/**
 * SPEC §7 with real worker processes over 100,000 contacts: a worker killed (SIGKILL) in the
 * middle of the dispatch or of its hand-off, Postgres or Redis taken away from it for 3 s (a
 * TCP proxy cut), a SIGTERM — and every time the run finishes with exactly one delivery per
 * contact, each in exactly one chunk.
 */

const CONTACTS = 100_000;
const SEGMENTS = 10;

describe('a dispatch interrupted: worker killed, Postgres or Redis lost, SIGTERM', () => {
  const database = useTestDatabase();
  const prefix = testQueuePrefix();
  const processes: StartedProcess[] = [];
  // Each test's workers go with it: a survivor would take the next test's jobs.
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  });

  async function startWorker(env: Record<string, string> = {}) {
    const { process: worker } = await startReadyProcess('worker', {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      WORKER_STALLED_INTERVAL_MS: '2000',
      RECONCILE_INTERVAL_MS: '500',
      // Short, so a killed dispatch is resumed soon; not so short that a live one whose heartbeat
      // (every quarter of it) is late under the full suite's load looks stuck and is redone
      // beside itself again and again (at 1,500 ms a run once missed the 90 s deadline so).
      DISPATCH_STUCK_AFTER_MS: '4000',
      // Room to finish the dispatch in hand on SIGTERM, however slow the machine.
      SHUTDOWN_TIMEOUT_MS: '30000',
      // Dispatch only: the chunks stay in their queues for the test to check.
      WORKER_QUEUES: 'dispatch,maintenance',
      // Ten calls in five transactions of two: a dispatch with batches to cut between and into.
      DISPATCH_BATCH_TRIGGERS: '2',
      ...env,
    });
    processes.push(worker);
    return worker;
  }

  /** A broadcast with CONTACTS contacts and ten pending calls, one per segment, each writing a variable. */
  async function tenStepDispatch() {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 0 });
    await sql`
      INSERT INTO contacts (bot_id, bot_channel, user_id, variables)
      SELECT ${bot.id}, 'TelegramChannel', 'u' || i, jsonb_build_object('segment', (i % ${SEGMENTS})::text)
      FROM generate_series(1, ${CONTACTS}) AS i`.execute(db);
    // Ten calls, one per segment, each writing a variable: a dispatch of ten steps to cut into.
    for (let segment = 0; segment < SEGMENTS; segment++) {
      await createTriggerRow(db, broadcast.id, {
        request: {
          mode: 'audience',
          audience: { filters: [{ field: 'segment', criteria: 'Equals', value: String(segment) }], join: [] },
          set_variables: { seen: String(segment) },
          payload: null,
        },
      });
    }
    return broadcast;
  }

  const dispatchedCount = async (broadcastId: string) =>
    Number(
      (
        await database.current.db
          .selectFrom('triggers')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('broadcast_id', '=', broadcastId)
          .where('status', '=', 'dispatched')
          .executeTakeFirstOrThrow()
      ).n,
    );

  /**
   * How the chunk jobs in the Telegram queue cover the run's deliveries: how many deliveries
   * are in a chunk, how many in none, and how many chunks overlap the one before (a delivery
   * in two chunks). A sweep over both sorted lists: a join of 10,000 ranges with 100,000 ids
   * would be a billion comparisons.
   */
  async function chunkCoverage(redis: Redis, runId: string) {
    const queue = new JobProducer(redisQueueBackend(redis, prefix)).queue('deliver-telegram');
    try {
      const chunks = (await queue.getJobs(['waiting']))
        .filter((job) => job.data.runId === runId)
        .map((job) => ({ first: BigInt(job.data.firstId), last: BigInt(job.data.lastId) }))
        .sort((a, b) => (a.first < b.first ? -1 : 1));
      const overlapping = chunks.filter((chunk, i) => i > 0 && chunk.first <= chunks[i - 1]!.last).length;
      const ids = (await database.current.db.selectFrom('deliveries').select('id').where('run_id', '=', runId).orderBy('id').execute()).map((d) =>
        BigInt(d.id),
      );
      let inChunk = 0;
      let c = 0;
      for (const id of ids) {
        while (c < chunks.length && chunks[c]!.last < id) c++;
        if (c < chunks.length && chunks[c]!.first <= id) inChunk++;
      }
      return { chunks: chunks.length, inChunk, inNone: ids.length - inChunk, overlapping };
    } finally {
      await queue.close();
    }
  }

  /** Resolves once the dispatch has applied its first batch (of five): under way, not done. */
  const dispatchUnderWay = (broadcastId: string) =>
    waitFor(
      async () => {
        const n = await dispatchedCount(broadcastId);
        return n >= 1 ? n : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 10, what: 'the dispatch to be under way' },
    );

  /** Resolves once the hand-off to the channel queues has recorded its first page. */
  const handOffUnderWay = (broadcastId: string) =>
    waitFor(
      async () => {
        const run = await database.current.db.selectFrom('runs').select('handed_off').where('broadcast_id', '=', broadcastId).executeTakeFirst();
        return run && run.handed_off > 0 ? run.handed_off : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 5, what: 'the hand-off to be under way' },
    );

  /** The broadcast's one run once it has left `dispatching`; on a timeout, the workers' logs. */
  async function finishedRun(broadcastId: string, what: string) {
    return waitFor(
      async () => {
        const runs = await database.current.db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcastId).execute();
        return runs.length === 1 && runs[0]!.status !== 'dispatching' ? runs[0] : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, what },
    ).catch((error: unknown) => {
      // Why it did not finish is in the worker's log (this is how a crash on a lost
      // Postgres connection was found).
      console.log(
        processes
          .map((p) => p.output())
          .join('\n')
          .slice(-20_000),
      );
      throw error;
    });
  }

  /** The whole promise: the run finished, every contact has one delivery, in exactly one chunk. */
  async function expectEveryDeliveryOnce(redis: Redis, broadcastId: string, run: { id: string }, chunkSize: number) {
    expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS, handed_off: CONTACTS });
    const { rows } = await sql<{ deliveries: string; contacts: string }>`
      SELECT count(*) AS deliveries, count(DISTINCT contact_id) AS contacts FROM deliveries WHERE run_id = ${run.id}`.execute(database.current.db);
    expect(rows[0]).toEqual({ deliveries: String(CONTACTS), contacts: String(CONTACTS) });
    expect(await dispatchedCount(broadcastId)).toBe(SEGMENTS);
    expect(await chunkCoverage(redis, run.id)).toEqual({ chunks: CONTACTS / chunkSize, inChunk: CONTACTS, inNone: 0, overlapping: 0 });
  }

  /** A connection and producer on the test's queues, closed after `body`. */
  async function withQueues(body: (redis: Redis, producer: JobProducer) => Promise<void>) {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const producer = new JobProducer(redisQueueBackend(redis, prefix));
    try {
      await body(redis, producer);
    } finally {
      await producer.close();
      redis.disconnect();
    }
  }

  it('leaves exactly one delivery per contact after a restart, and the run finishes', async () => {
    const broadcast = await tenStepDispatch();
    const first = await startWorker();
    await withQueues(async (redis, producer) => {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      expect(await dispatchUnderWay(broadcast.id)).toBeLessThan(SEGMENTS);
      await first.stop('SIGKILL');

      await startWorker();
      const run = await finishedRun(broadcast.id, 'the run to finish after the restart');
      await expectEveryDeliveryOnce(redis, broadcast.id, run, 1_000); // the default chunk size
    });
  }, 120_000);

  it('killed in the middle of handing off the chunks, resumes: every delivery in exactly one chunk', async () => {
    const broadcast = await tenStepDispatch();
    // Chunks of 10: 10,000 chunk jobs in 500 pages, a hand-off long enough to cut into.
    const first = await startWorker({ DELIVERY_CHUNK_SIZE: '10' });
    await withQueues(async (redis, producer) => {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      expect(await handOffUnderWay(broadcast.id)).toBeLessThan(CONTACTS);
      await first.stop('SIGKILL');

      await startWorker({ DELIVERY_CHUNK_SIZE: '10' });
      const run = await finishedRun(broadcast.id, 'the run to finish after the restart');
      await expectEveryDeliveryOnce(redis, broadcast.id, run, 10);
    });
  }, 120_000);

  it('loses Postgres in the middle of the dispatch and gets it back: every delivery once, the run finishes', async () => {
    const broadcast = await tenStepDispatch();
    const postgres = await proxyInFrontOf(database.current.url);
    try {
      await startWorker({ DATABASE_URL: postgres.url, DELIVERY_CHUNK_SIZE: '500' });
      await withQueues(async (redis, producer) => {
        await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
        expect(await dispatchUnderWay(broadcast.id)).toBeLessThan(SEGMENTS);
        postgres.proxy.cut(); // every connection of the worker to Postgres dropped, new ones refused
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        postgres.proxy.restore();

        const run = await finishedRun(broadcast.id, 'the run to finish once Postgres is back');
        await expectEveryDeliveryOnce(redis, broadcast.id, run, 500);
      });
    } finally {
      await postgres.proxy.close();
    }
  }, 150_000);

  it('loses Redis in the middle of the hand-off and gets it back: every delivery in exactly one chunk, the run finishes', async () => {
    const broadcast = await tenStepDispatch();
    const redisProxy = await proxyInFrontOf(TEST_REDIS_URL);
    try {
      // Chunks of 10: 10,000 chunk jobs, a hand-off long enough to cut into.
      await startWorker({ REDIS_URL: redisProxy.url, DELIVERY_CHUNK_SIZE: '10' });
      await withQueues(async (redis, producer) => {
        await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
        expect(await handOffUnderWay(broadcast.id)).toBeLessThan(CONTACTS);
        redisProxy.proxy.cut(); // the worker's Redis gone: the hand-off's adds, lock renewals, everything
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        redisProxy.proxy.restore();

        const run = await finishedRun(broadcast.id, 'the run to finish once Redis is back');
        await expectEveryDeliveryOnce(redis, broadcast.id, run, 10);
      });
    } finally {
      await redisProxy.proxy.close();
    }
  }, 150_000);

  it('on SIGTERM mid-dispatch, finishes the job in hand and exits 0', async () => {
    const broadcast = await tenStepDispatch();
    const worker = await startWorker();
    await withQueues(async (_redis, producer) => {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      await dispatchUnderWay(broadcast.id);
      const stopped = await worker.stop('SIGTERM');
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 0, signal: null });
      // It stopped taking work but let the dispatch finish: nothing was left half done.
      const run = await database.current.db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcast.id).executeTakeFirstOrThrow();
      expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS });
      expect(await dispatchedCount(broadcast.id)).toBe(SEGMENTS);
    });
  }, 120_000);

  it('killed with kill -9 in the middle of 100,000 per-user triggers, resumes: every trigger applied once, one delivery each', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 0 });
    // 100,000 calls as the ingress records them: one target each, a contact of its own, one variable.
    const request = {
      mode: 'targets',
      set_variables: {},
      payload: null,
      targets: [{ user_id: 'X', user_phone_number: null, bot_channel: 'TelegramChannel', variables: { order: 'X' } }],
    };
    await sql`
      INSERT INTO triggers (broadcast_id, method, request)
      SELECT ${broadcast.id}, 'POST', replace(${JSON.stringify(request)}, '"X"', '"p' || i || '"')::jsonb
      FROM generate_series(1, ${CONTACTS}) AS i`.execute(db);
    const first = await startWorker({ DISPATCH_BATCH_TRIGGERS: '500' });
    await withQueues(async (redis, producer) => {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      const applied = await waitFor(
        async () => {
          const n = await dispatchedCount(broadcast.id);
          return n >= 5_000 ? n : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20, what: 'a few batches to be applied' },
      );
      await first.stop('SIGKILL');
      expect(applied).toBeLessThan(CONTACTS);

      await startWorker({ DISPATCH_BATCH_TRIGGERS: '500' });
      const run = await finishedRun(broadcast.id, 'the run to finish after the restart');
      expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS });
      expect(await dispatchedCount(broadcast.id)).toBe(CONTACTS);
      const { rows } = await sql<{ deliveries: string; contacts: string; wrong: string }>`
        SELECT (SELECT count(*) FROM deliveries WHERE run_id = ${run.id}) AS deliveries,
               (SELECT count(*) FROM contacts WHERE bot_id = ${bot.id}) AS contacts,
               (SELECT count(*) FROM contacts WHERE bot_id = ${bot.id} AND variables->>'order' <> user_id) AS wrong`.execute(db);
      expect(rows[0]).toEqual({ deliveries: String(CONTACTS), contacts: String(CONTACTS), wrong: '0' });
      expect(await chunkCoverage(redis, run.id)).toEqual({ chunks: CONTACTS / 1_000, inChunk: CONTACTS, inNone: 0, overlapping: 0 });
    });
  }, 150_000);
});
