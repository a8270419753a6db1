import { broadcastsWithPendingTriggers, toJson, upsertContacts } from '@herald/db';
import { JobProducer } from '@herald/queue';
import { contactUpsert, createBotRow, createBroadcastRow, createTriggerRow, deleteKeysWithPrefix, testBackend, waitFor } from '@herald/testing';
import { useInProcessWorkers } from './testing/in-process-workers';

/**
 * SPEC §7: an accepted call is never lost — not when Redis loses its keys, not when it was
 * down as the call came in, not when a dispatch dies halfway. The reconciler rebuilds from
 * Postgres. (Redis is shared by parallel test files, so "FLUSHALL" here deletes every key of
 * this file's prefix: the same loss, for this file only.)
 */

const RECONCILE_EVERY_MS = 300;

/** Losing Redis's keys has no counterpart on the embedded backend: its queues are in the database. */
const onRedisOnly = testBackend() === 'services' ? it : it.skip;

describe('the reconciler', () => {
  const running = useInProcessWorkers({
    concurrency: 4,
    ctx: { dispatchStuckAfterMs: 2_000, dispatchMaxPostponeMs: 3_000, deliveryChunkSize: 4 },
    reconcileEveryMs: RECONCILE_EVERY_MS,
    // No delivery Workers (as WORKER_QUEUES would set): the chunks stay in Redis to be looked at.
    queues: ['dispatch', 'maintenance'],
  });
  const { database, redis } = running;
  let producer: JobProducer;
  beforeAll(() => {
    producer = running.producer;
  });

  async function runsOf(broadcastId: string) {
    return database.current.db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcastId).execute();
  }

  async function accepted(delayMs: number) {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: delayMs });
    const trigger = await createTriggerRow(db, broadcast.id);
    return { broadcast, trigger };
  }

  onRedisOnly('dispatches a call accepted before Redis lost every key (timer and scheduler included)', async () => {
    const { broadcast, trigger } = await accepted(1_000);
    await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 1_000);
    const lost = Date.now();
    await deleteKeysWithPrefix(redis.current.redis, redis.current.prefix);

    await waitFor(async () => (await runsOf(broadcast.id)).length === 1, { timeoutMs: 10_000, what: 'the run' });
    // SPEC: within delay_ms + 30 s; with a 300 ms reconcile interval, well within.
    expect(Date.now() - lost).toBeLessThan(1_000 + 30_000);
    // The run is made when the triggers are claimed; wait for them to be applied too.
    await waitFor(async () => (await runsOf(broadcast.id))[0]!.status !== 'dispatching', { timeoutMs: 10_000, what: 'the dispatch to end' });
    const { status } = await database.current.db.selectFrom('triggers').select('status').where('id', '=', trigger.id).executeTakeFirstOrThrow();
    expect(status).toBe('dispatched');
  });

  it('dispatches a broadcast whose calls keep re-arming its timer once its first call is delay + DISPATCH_MAX_POSTPONE_MS old', async () => {
    const { db } = database.current;
    const { broadcast, trigger } = await accepted(60_000);
    // The first call 70 s ago (past 60 s + 3 s), the last one just now: the ingress has just
    // re-armed the timer for another minute, as it would on every call of a steady stream.
    await db
      .updateTable('triggers')
      .set({ received_at: new Date(Date.now() - 70_000) })
      .where('id', '=', trigger.id)
      .execute();
    await createTriggerRow(db, broadcast.id);
    await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 60_000);
    await waitFor(async () => (await runsOf(broadcast.id)).length === 1, { timeoutMs: 10_000, what: 'the run, well before the minute' });

    // One without the stream (its first call recent) is left to its timer.
    const quiet = await accepted(60_000);
    await producer.armTimer('broadcast.dispatch', { broadcastId: quiet.broadcast.id }, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 3 * RECONCILE_EVERY_MS));
    expect(await runsOf(quiet.broadcast.id)).toEqual([]);
  });

  it('dispatches a call accepted while Redis was down (no timer was ever armed)', async () => {
    const { broadcast } = await accepted(200);
    expect(await producer.isTimerArmed('broadcast.dispatch', { broadcastId: broadcast.id })).toBe(false);
    await waitFor(async () => (await runsOf(broadcast.id)).length === 1, { timeoutMs: 10_000, what: 'the run' });
  });

  it('counts a broadcast as needing a timer only once its last call is 2 s old (the ingress arms the newer ones)', async () => {
    const { db } = database.current;
    const { broadcast, trigger } = await accepted(60_000);
    const listed = async () => (await broadcastsWithPendingTriggers(db, 2_000)).some((b) => b.broadcast_id === broadcast.id);
    expect(await listed()).toBe(false);
    await db
      .updateTable('triggers')
      .set({ received_at: new Date(Date.now() - 3_000) })
      .where('id', '=', trigger.id)
      .execute();
    expect(await listed()).toBe(true);
  });

  it("counts only triggers past the boundary of a run being dispatched: the ones inside are that dispatch's", async () => {
    const { db } = database.current;
    const { broadcast, trigger } = await accepted(60_000);
    const listed = async () => (await broadcastsWithPendingTriggers(db, 2_000)).some((b) => b.broadcast_id === broadcast.id);
    const threeSecondsAgo = new Date(Date.now() - 3_000);
    await db.updateTable('triggers').set({ received_at: threeSecondsAgo }).where('id', '=', trigger.id).execute();
    // A live dispatch (beating: updated_at now) holding that trigger, not yet applied.
    await db.insertInto('runs').values({ broadcast_id: broadcast.id, last_trigger_seq: trigger.seq }).execute();
    expect(await listed()).toBe(false);
    // A call accepted after the claim is in no run: its broadcast needs a timer.
    const later = await createTriggerRow(db, broadcast.id);
    await db.updateTable('triggers').set({ received_at: threeSecondsAgo }).where('id', '=', later.id).execute();
    expect(await listed()).toBe(true);
  });

  it('leaves an armed timer alone: the reconciler never postpones a dispatch', async () => {
    const { broadcast } = await accepted(2_000);
    await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 2_000);
    const armedAt = Date.now();
    await waitFor(async () => (await runsOf(broadcast.id)).length === 1, { timeoutMs: 8_000, what: 'the run' });
    const [run] = await runsOf(broadcast.id);
    // Several reconciles ran meanwhile; the dispatch still came when the timer said.
    expect(run!.created_at.getTime() - armedAt).toBeLessThan(2_000 + 1_000);
  });

  it('resumes a dispatch that died halfway', async () => {
    const { db } = database.current;
    const { broadcast, trigger } = await accepted(60_000);
    const run = await db
      .insertInto('runs')
      .values({ broadcast_id: broadcast.id, last_trigger_seq: trigger.seq, updated_at: new Date(Date.now() - 10 * 60_000) })
      .returning('id')
      .executeTakeFirstOrThrow();

    await waitFor(async () => (await db.selectFrom('runs').select('status').where('id', '=', run.id).executeTakeFirstOrThrow()).status !== 'dispatching', {
      timeoutMs: 10_000,
      what: 'the run to be resumed and finished',
    });
    expect(await runsOf(broadcast.id)).toHaveLength(1);
  });

  it('deletes idempotency keys past their 24 hours', async () => {
    const { db } = database.current;
    const { broadcast, trigger } = await accepted(60_000);
    await db
      .insertInto('idempotency_keys')
      .values([
        { broadcast_id: broadcast.id, key: 'old', trigger_id: trigger.id, response: toJson({}), created_at: new Date(Date.now() - 25 * 3600_000) },
        { broadcast_id: broadcast.id, key: 'fresh', trigger_id: trigger.id, response: toJson({}) },
      ])
      .execute();
    await waitFor(
      async () =>
        (await db.selectFrom('idempotency_keys').select('key').where('broadcast_id', '=', broadcast.id).execute()).map((k) => k.key).join() === 'fresh',
      { timeoutMs: 5_000, what: 'the old key to go' },
    );
  });

  onRedisOnly('hands delivery chunks off again when Redis lost them: the same chunks, none twice', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 0 });
    await upsertContacts(db, bot.id, [
      ...Array.from({ length: 9 }, (_, i) => contactUpsert('TelegramChannel', `t${i}`)),
      ...Array.from({ length: 5 }, (_, i) => contactUpsert('WhatsAppChannel', `3931000${i}`)),
    ]);
    await createTriggerRow(db, broadcast.id);
    await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
    const run = await waitFor(async () => (await runsOf(broadcast.id)).find((r) => r.status === 'delivering'), { timeoutMs: 10_000, what: 'the hand-off' });

    const chunkJobs = async () => {
      const jobs = await Promise.all((['deliver-telegram', 'deliver-whatsapp'] as const).map((queue) => producer.queue(queue).getJobs(['waiting'])));
      return jobs.flat().filter((job) => job.data.runId === run.id);
    };
    const chunksInRedis = async () => (await chunkJobs()).map((job) => `${job.queueName} ${job.id} ${job.data.firstId}-${job.data.lastId}`).sort();
    const before = await chunksInRedis();
    expect(before).toHaveLength(3 + 2); // 9 Telegram in chunks of 4, 5 WhatsApp

    const deletedAt = Date.now();
    await deleteKeysWithPrefix(redis.current.redis, redis.current.prefix);
    // The reconciler may put chunks back within milliseconds, so "gone" is not checked right
    // after the delete; instead every chunk found later must have been added after it.
    // A Worker blocked on a queue marker that was just deleted only looks again after BullMQ's
    // drain delay (5 s): under the full suite's load the replay took more than 10 s once.
    await waitFor(async () => (await chunksInRedis()).length >= before.length, { timeoutMs: 20_000, what: 'the chunks to come back' });
    expect(await chunksInRedis()).toEqual(before);
    expect((await chunkJobs()).filter((job) => job.timestamp < deletedAt)).toEqual([]);
    // Once restored, Redis is marked intact, so later passes do not walk the runs again.
    await waitFor(() => producer.areQueuesIntact(), { timeoutMs: 5_000, what: 'the marker' });
  });
});
