import { Queue, QueueEvents } from 'bullmq';
import { WORKER_QUEUE_NAMES } from '@herald/config';
import { InvalidJobPayloadError, JobProducer, QUEUE_NAMES, jobCatalog } from '@herald/queue';
import { createBotRow, createBroadcastRow, createTriggerRow, waitFor } from '@herald/testing';
import { useInProcessWorkers } from './testing/in-process-workers';

describe('workers consume the job catalog (real Redis and Postgres)', () => {
  const running = useInProcessWorkers({ concurrency: 2 });
  const { database, redis } = running;
  let producer: JobProducer;
  beforeAll(() => {
    producer = running.producer;
  });

  it('runs broadcast.dispatch: settles every pending trigger of that broadcast, and only those', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    const other = await createBroadcastRow(db, bot.id);
    const pending = await Promise.all([1, 2, 3].map(() => createTriggerRow(db, broadcast.id)));
    const cancelled = await createTriggerRow(db, broadcast.id, { status: 'cancelled' });
    const otherPending = await createTriggerRow(db, other.id);

    await producer.add('broadcast.dispatch', { broadcastId: broadcast.id });

    const statuses = await waitFor(
      async () => {
        const rows = await db.selectFrom('triggers').select(['id', 'status']).execute();
        const byId = new Map(rows.map((r) => [r.id, r.status]));
        return pending.every((t) => byId.get(t.id) === 'dispatched') ? byId : undefined;
      },
      { what: 'the pending triggers to be dispatched' },
    );
    expect(statuses.get(cancelled.id)).toBe('cancelled');
    expect(statuses.get(otherPending.id)).toBe('pending');
  });

  it('refuses an invalid payload before it reaches Redis', async () => {
    await expect(producer.add('broadcast.dispatch', { broadcastId: 'not-a-uuid' })).rejects.toBeInstanceOf(InvalidJobPayloadError);
    const counts = await producer.queue('dispatch').getJobCounts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1); // only the job of the first test
  });

  it('fails a job it can never run at once, without spending retries', async () => {
    const { redis: connection, prefix } = redis.current;
    const queue = new Queue('dispatch', { connection, prefix });
    // QueueEvents blocks on its connection, so it gets one of its own (closed below: BullMQ
    // leaves connections it was handed open).
    const eventsConnection = connection.duplicate();
    const events = new QueueEvents('dispatch', { connection: eventsConnection, prefix });
    await events.waitUntilReady();
    try {
      const badPayload = await queue.add('broadcast.dispatch', { broadcastId: 42 }, { attempts: 5 });
      const unknownName = await queue.add('broadcast.explode', {}, { attempts: 5 });
      for (const job of [badPayload, unknownName]) {
        await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(/invalid payload|no processor for job name/);
        const failed = await queue.getJob(job.id!);
        expect([job.name, failed?.attemptsMade]).toEqual([job.name, 1]);
      }
    } finally {
      await events.close();
      eventsConnection.disconnect();
      await queue.close();
    }
  });

  it('runs a Worker on every queue of the catalog, each delivery queue included', async () => {
    expect(running.workers.map((w) => w.name).sort()).toEqual([...QUEUE_NAMES].sort());
    // The worker's configuration spells the same queue names (config depends on no package).
    expect([...WORKER_QUEUE_NAMES].sort()).toEqual([...QUEUE_NAMES].sort());
  });

  it('adds jobs with the retry settings of the catalog', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    const id = await producer.add('broadcast.dispatch', { broadcastId: broadcast.id }, { delay: 60_000 });
    const job = await producer.queue('dispatch').getJob(id);
    expect(job?.opts).toMatchObject({ attempts: jobCatalog['broadcast.dispatch'].options.attempts, backoff: { type: 'exponential' } });
  });
});
