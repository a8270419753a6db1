import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { JobProducer } from '@herald/queue';
import {
  createBotRow,
  createBroadcastRow,
  createTriggerRow,
  freePort,
  startProcess,
  startTcpProxy,
  testQueuePrefix,
  TEST_REDIS_URL,
  useTestDatabase,
  waitFor,
  waitForHttp,
  type StartedProcess,
} from '@herald/testing';

/**
 * SPEC §7: a worker killed (SIGKILL) in the middle of dispatching 100,000 contacts; after a
 * restart every contact has exactly one delivery and the run finishes.
 */

const CONTACTS = 100_000;
const SEGMENTS = 10;

describe('a worker killed mid-dispatch', () => {
  const database = useTestDatabase();
  const prefix = testQueuePrefix();
  const processes: StartedProcess[] = [];
  // Each test's workers go with it: a survivor would take the next test's jobs.
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  });

  async function startWorker(env: Record<string, string> = {}) {
    const port = await freePort();
    const worker = startProcess('worker', {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      WORKER_PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      WORKER_STALLED_INTERVAL_MS: '2000',
      RECONCILE_INTERVAL_MS: '500',
      DISPATCH_STUCK_AFTER_MS: '1500',
      // Room to finish the dispatch in hand on SIGTERM, however slow the machine.
      SHUTDOWN_TIMEOUT_MS: '30000',
      ...env,
    });
    processes.push(worker);
    await waitForHttp(worker, port, { path: '/readyz' });
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
    const queue = new JobProducer(redis, prefix).queue('deliver-telegram');
    try {
      const chunks = (await queue.getJobs(['waiting']))
        .filter((job) => job.data.runId === runId)
        .map((job) => ({ first: BigInt(job.data.firstId), last: BigInt(job.data.lastId) }))
        .sort((a, b) => (a.first < b.first ? -1 : 1));
      const overlapping = chunks.filter((chunk, i) => i > 0 && chunk.first <= chunks[i - 1]!.last).length;
      const ids = (await database.current.db.selectFrom('deliveries').select('id').where('run_id', '=', runId).orderBy('id').execute()).map((d) => BigInt(d.id));
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

  it('leaves exactly one delivery per contact after a restart, and the run finishes', async () => {
    const { db } = database.current;
    const broadcast = await tenStepDispatch();
    const first = await startWorker();
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const producer = new JobProducer(redis, prefix);
    try {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      // Kill it once it is under way but not done.
      const doneBeforeKill = await waitFor(async () => {
        const n = await dispatchedCount(broadcast.id);
        return n >= 1 ? n : undefined;
      }, { timeoutMs: 30_000, intervalMs: 10, what: 'the dispatch to be under way' });
      await first.stop('SIGKILL');
      expect(doneBeforeKill).toBeLessThan(SEGMENTS);

      await startWorker();
      const run = await waitFor(
        async () => {
          const runs = await db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcast.id).execute();
          return runs.length === 1 && runs[0]!.status !== 'dispatching' ? runs[0] : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the run to finish after the restart' },
      );
      expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS });
      const { rows } = await sql<{ deliveries: string; contacts: string }>`
        SELECT count(*) AS deliveries, count(DISTINCT contact_id) AS contacts FROM deliveries WHERE run_id = ${run.id}`.execute(db);
      expect(rows[0]).toEqual({ deliveries: String(CONTACTS), contacts: String(CONTACTS) });
      expect(await dispatchedCount(broadcast.id)).toBe(SEGMENTS);
      // Handed off in chunks of 1,000 (the default): every delivery in exactly one chunk.
      expect(await chunkCoverage(redis, run.id)).toEqual({ chunks: CONTACTS / 1000, inChunk: CONTACTS, inNone: 0, overlapping: 0 });
    } finally {
      await producer.close();
      redis.disconnect();
    }
  }, 120_000);

  it('killed in the middle of handing off the chunks, resumes: every delivery in exactly one chunk', async () => {
    const { db } = database.current;
    const broadcast = await tenStepDispatch();
    // Chunks of 10: 10,000 chunk jobs in 500 pages, a hand-off long enough to cut into.
    const first = await startWorker({ DELIVERY_CHUNK_SIZE: '10' });
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const producer = new JobProducer(redis, prefix);
    try {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      const handedOffAtKill = await waitFor(
        async () => {
          const run = await db.selectFrom('runs').select('handed_off').where('broadcast_id', '=', broadcast.id).executeTakeFirst();
          return run && run.handed_off > 0 ? run.handed_off : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 5, what: 'the hand-off to be under way' },
      );
      await first.stop('SIGKILL');
      expect(handedOffAtKill).toBeLessThan(CONTACTS);

      await startWorker({ DELIVERY_CHUNK_SIZE: '10' });
      const run = await waitFor(
        async () => {
          const row = await db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcast.id).executeTakeFirst();
          return row && row.status !== 'dispatching' ? row : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the run to finish after the restart' },
      );
      expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS, handed_off: CONTACTS });
      expect(await chunkCoverage(redis, run.id)).toEqual({ chunks: CONTACTS / 10, inChunk: CONTACTS, inNone: 0, overlapping: 0 });
    } finally {
      await producer.close();
      redis.disconnect();
    }
  }, 120_000);

  it('loses Postgres in the middle of the dispatch and gets it back: every delivery once, the run finishes', async () => {
    const { db, url } = database.current;
    const broadcast = await tenStepDispatch();
    const target = new URL(url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    await startWorker({ DATABASE_URL: viaProxy.toString(), DELIVERY_CHUNK_SIZE: '500' });
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const producer = new JobProducer(redis, prefix);
    try {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      const doneBeforeCut = await waitFor(async () => {
        const n = await dispatchedCount(broadcast.id);
        return n >= 1 ? n : undefined;
      }, { timeoutMs: 30_000, intervalMs: 10, what: 'the dispatch to be under way' });
      proxy.cut(); // every connection of the worker to Postgres dropped, new ones refused
      expect(doneBeforeCut).toBeLessThan(SEGMENTS);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      proxy.restore();

      const run = await waitFor(
        async () => {
          const row = await db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcast.id).executeTakeFirst();
          return row && row.status !== 'dispatching' ? row : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 200, what: 'the run to finish once Postgres is back' },
      ).catch((error: unknown) => {
        // Why it did not finish is in the worker's log (this is how its crash was found).
        console.log(processes.map((p) => p.output()).join('\n').slice(-20_000));
        throw error;
      });
      expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS, handed_off: CONTACTS });
      const { rows } = await sql<{ deliveries: string; contacts: string }>`
        SELECT count(*) AS deliveries, count(DISTINCT contact_id) AS contacts FROM deliveries WHERE run_id = ${run.id}`.execute(db);
      expect(rows[0]).toEqual({ deliveries: String(CONTACTS), contacts: String(CONTACTS) });
      expect(await dispatchedCount(broadcast.id)).toBe(SEGMENTS);
      expect(await chunkCoverage(redis, run.id)).toEqual({ chunks: CONTACTS / 500, inChunk: CONTACTS, inNone: 0, overlapping: 0 });
    } finally {
      await producer.close();
      redis.disconnect();
      await proxy.close();
    }
  }, 150_000);

  it('on SIGTERM mid-dispatch, finishes the job in hand and exits 0', async () => {
    const { db } = database.current;
    const broadcast = await tenStepDispatch();
    const worker = await startWorker();
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const producer = new JobProducer(redis, prefix);
    try {
      await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
      await waitFor(async () => (await dispatchedCount(broadcast.id)) >= 1 || undefined, {
        timeoutMs: 30_000,
        intervalMs: 10,
        what: 'the dispatch to be under way',
      });
      const stopped = await worker.stop('SIGTERM');
      expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 0, signal: null });
      // It stopped taking work but let the dispatch finish: nothing was left half done.
      const run = await db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcast.id).executeTakeFirstOrThrow();
      expect(run).toMatchObject({ status: 'delivering', targeted: CONTACTS });
      expect(await dispatchedCount(broadcast.id)).toBe(SEGMENTS);
    } finally {
      await producer.close();
      redis.disconnect();
    }
  }, 120_000);
});
