import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { toJson, tryRetentionLock, upsertContacts, type Db, type RunStatus } from '@herald/db';
import { contactUpsert, createBotRow, createBroadcastRow, createTriggerRow, testLogger, useTestDatabase, waitFor } from '@herald/testing';
import { keepRetentionScheduled } from '../reconciler-schedule';
import { useInProcessWorkers } from '../testing/in-process-workers';
import { purgeExpired, type PurgeCounts, type RetentionSettings } from './purge-expired';
import { createRetentionMetrics } from './retention-metrics';

/**
 * Retention (RETENTION_DAYS): finished runs older than the horizon go with their deliveries,
 * triggers and provider message ids, in batches; runs in progress, recent runs and pending
 * triggers stay, however old. A batch of 3 rows here, so a run of 7 deliveries takes several.
 */

const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS);
const SETTINGS: RetentionSettings = { days: 30, batchSize: 3, pauseMs: 0, statementTimeoutMs: 10_000 };
const NONE: PurgeCounts = { triggers: 0, deliveries: 0, provider_messages: 0, runs: 0 };

/**
 * A run of `deliveries` sent deliveries of the bot's contacts, with a dispatched trigger per
 * 4 deliveries (at least one) holding an idempotency key, a provider message id per delivery
 * and a web outbox message for the first.
 */
async function seedRun(db: Db, place: Place, run: { status: RunStatus; finishedAt: Date | null; createdAt: Date; deliveries: number }) {
  const { id: runId } = await db
    .insertInto('runs')
    .values({ broadcast_id: place.broadcastId, status: run.status, created_at: run.createdAt, finished_at: run.finishedAt, updated_at: run.createdAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  const triggerIds: string[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(run.deliveries / 4)); i++) {
    const trigger = await createTriggerRow(db, place.broadcastId, { status: 'dispatched' });
    await db
      .updateTable('triggers')
      .set({ run_id: runId, received_at: run.createdAt, status_changed_at: run.createdAt })
      .where('id', '=', trigger.id)
      .execute();
    await db
      .insertInto('idempotency_keys')
      .values({ broadcast_id: place.broadcastId, key: `k-${trigger.id}`, trigger_id: trigger.id, response: toJson({}), created_at: run.createdAt })
      .execute();
    triggerIds.push(trigger.id);
  }
  const deliveries = await db
    .insertInto('deliveries')
    .values(
      place.contactIds
        .slice(0, run.deliveries)
        .map((contactId) => ({ run_id: runId, contact_id: contactId, channel: 'WebChannel' as const, status: 'sent' as const, created_at: run.createdAt })),
    )
    .returning('id')
    .execute();
  const deliveryIds = deliveries.map((d) => d.id);
  await db
    .insertInto('provider_messages')
    .values(deliveryIds.map((id) => ({ connection_id: place.connectionId, provider_message_id: `m-${id}`, delivery_id: id, created_at: run.createdAt })))
    .execute();
  await db.insertInto('web_outbox').values({ contact_id: place.contactIds[0]!, delivery_id: deliveryIds[0]!, text: 'hi', created_at: run.createdAt }).execute();
  return { runId, triggerIds, deliveryIds };
}

/** A trigger in no run, with the given status since `at`. */
async function seedUnattachedTrigger(db: Db, broadcastId: string, status: 'pending' | 'cancelled', at: Date): Promise<string> {
  const trigger = await createTriggerRow(db, broadcastId, { status });
  await db
    .updateTable('triggers')
    .set({ received_at: at, status_changed_at: status === 'pending' ? null : at })
    .where('id', '=', trigger.id)
    .execute();
  return trigger.id;
}

/** A bot with `contacts` contacts, a broadcast, and the id of the connection its messages went through. */
interface Place {
  botId: string;
  broadcastId: string;
  contactIds: string[];
  connectionId: string;
}

async function seedPlace(db: Db, contacts: number): Promise<Place> {
  const bot = await createBotRow(db);
  const broadcast = await createBroadcastRow(db, bot.id);
  await upsertContacts(
    db,
    bot.id,
    Array.from({ length: contacts }, (_, i) => contactUpsert('WebChannel', `u${i}`)),
  );
  const rows = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').execute();
  return { botId: bot.id, broadcastId: broadcast.id, contactIds: rows.map((r) => r.id), connectionId: randomUUID() };
}

/** Every row id of the tables retention touches, for one place, sorted. */
async function snapshot(db: Db, { broadcastId, botId, connectionId }: Place) {
  const runs = await db.selectFrom('runs').select('id').where('broadcast_id', '=', broadcastId).orderBy('id').execute();
  const runIds = runs.map((r) => r.id);
  const deliveries = runIds.length ? await db.selectFrom('deliveries').select('id').where('run_id', 'in', runIds).orderBy('id').execute() : [];
  const deliveryIds = deliveries.map((d) => d.id);
  const triggers = await db.selectFrom('triggers').select('id').where('broadcast_id', '=', broadcastId).orderBy('id').execute();
  const keys = await db.selectFrom('idempotency_keys').select('trigger_id').where('broadcast_id', '=', broadcastId).orderBy('trigger_id').execute();
  const messages = await db.selectFrom('provider_messages').select('delivery_id').where('connection_id', '=', connectionId).orderBy('delivery_id').execute();
  const outbox = await db
    .selectFrom('web_outbox')
    .innerJoin('contacts', 'contacts.id', 'web_outbox.contact_id')
    .select('web_outbox.delivery_id')
    .where('contacts.bot_id', '=', botId)
    .orderBy('web_outbox.delivery_id')
    .execute();
  return {
    runs: runIds,
    deliveries: deliveryIds,
    triggers: triggers.map((t) => t.id),
    idempotencyKeys: keys.map((k) => k.trigger_id),
    providerMessages: messages.map((m) => m.delivery_id),
    webOutbox: outbox.map((o) => o.delivery_id),
  };
}

const sorted = (ids: string[]) => [...ids].sort();
const byNumber = (ids: string[]) => [...ids].sort((a, b) => Number(a) - Number(b));

describe('retention: purgeExpired', () => {
  const database = useTestDatabase();
  const db = (): Db => database.current.db;

  it('deletes finished runs past the horizon with everything of theirs, in batches, and keeps the rest', async () => {
    const place = await seedPlace(db(), 10);
    // Gone: two runs finished 40 days ago (one of 7 deliveries: three batches of 3), and a
    // trigger cancelled 40 days ago in no run.
    const old = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(41), finishedAt: daysAgo(40), deliveries: 7 });
    const oldCancelled = await seedRun(db(), place, { status: 'cancelled', createdAt: daysAgo(41), finishedAt: daysAgo(40), deliveries: 1 });
    const oldUnattached = await seedUnattachedTrigger(db(), place.broadcastId, 'cancelled', daysAgo(40));
    // Kept: a run still delivering after 40 days, a run finished yesterday, a call pending for
    // 40 days, a trigger cancelled yesterday.
    const stuck = await seedRun(db(), place, { status: 'delivering', createdAt: daysAgo(40), finishedAt: null, deliveries: 4 });
    const recent = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(2), finishedAt: daysAgo(1), deliveries: 5 });
    const oldPending = await seedUnattachedTrigger(db(), place.broadcastId, 'pending', daysAgo(40));
    const recentCancelled = await seedUnattachedTrigger(db(), place.broadcastId, 'cancelled', daysAgo(1));
    const before = await snapshot(db(), place);
    const batches: Partial<PurgeCounts>[] = [];

    const result = await purgeExpired(db(), SETTINGS, { onBatch: (deleted) => batches.push(deleted) });

    expect(result).toMatchObject({ outcome: 'purged', deleted: { triggers: 2 + 1 + 1, deliveries: 8, provider_messages: 8, runs: 2 } });
    // No delete statement went past the batch size; the 7-delivery run took three of them.
    expect(batches.every((b) => Object.values(b).every((n) => n <= SETTINGS.batchSize))).toBe(true);
    expect(batches.filter((b) => (b.deliveries ?? 0) > 0).length).toBeGreaterThanOrEqual(3);

    const kept = [stuck, recent];
    const after = await snapshot(db(), place);
    expect(after.runs).toEqual(sorted(kept.map((r) => r.runId)));
    expect(after.deliveries).toEqual(byNumber(kept.flatMap((r) => r.deliveryIds)));
    expect(after.providerMessages).toEqual(byNumber(kept.flatMap((r) => r.deliveryIds)));
    expect(after.webOutbox).toEqual(byNumber(kept.map((r) => r.deliveryIds[0]!)));
    expect(after.triggers).toEqual(sorted([...kept.flatMap((r) => r.triggerIds), oldPending, recentCancelled]));
    expect(after.idempotencyKeys).toEqual(sorted(kept.flatMap((r) => r.triggerIds)));
    // What went is exactly what was seeded as old.
    expect(before.runs.filter((id) => !after.runs.includes(id))).toEqual(sorted([old.runId, oldCancelled.runId]));
    expect(before.triggers.filter((id) => !after.triggers.includes(id))).toEqual(sorted([...old.triggerIds, ...oldCancelled.triggerIds, oldUnattached]));
    // The kept runs' triggers still name them (no ON DELETE SET NULL happened to them).
    const stuckTriggers = await db().selectFrom('triggers').select('run_id').where('id', 'in', stuck.triggerIds).execute();
    expect(stuckTriggers.every((t) => t.run_id === stuck.runId)).toBe(true);

    // Idempotent: a second pass finds nothing and changes nothing.
    expect(await purgeExpired(db(), SETTINGS)).toMatchObject({ outcome: 'purged', deleted: NONE });
    expect(await snapshot(db(), place)).toEqual(after);
  });

  it('deletes nothing with RETENTION_DAYS at 0', async () => {
    const place = await seedPlace(db(), 2);
    await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(400), finishedAt: daysAgo(400), deliveries: 2 });
    const before = await snapshot(db(), place);
    expect(await purgeExpired(db(), { ...SETTINGS, days: 0 })).toEqual({ outcome: 'off' });
    expect(await snapshot(db(), place)).toEqual(before);
  });

  it('counts days from when a run finished: a run finished within them stays, one just past goes', async () => {
    const place = await seedPlace(db(), 2);
    const inside = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(40), finishedAt: daysAgo(29.9), deliveries: 1 });
    const outside = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(30.2), finishedAt: daysAgo(30.1), deliveries: 1 });
    await purgeExpired(db(), SETTINGS);
    const { runs } = await snapshot(db(), place);
    expect(runs).toContain(inside.runId);
    expect(runs).not.toContain(outside.runId);
  });

  it('runs one pass at a time: a pass finding the lock held ends at once, deleting nothing', async () => {
    const place = await seedPlace(db(), 2);
    const old = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(41), finishedAt: daysAgo(40), deliveries: 2 });
    await db()
      .connection()
      .execute(async (other) => {
        expect(await tryRetentionLock(other)).toBe(true);
        try {
          expect(await purgeExpired(db(), SETTINGS)).toEqual({ outcome: 'busy' });
          expect((await snapshot(db(), place)).runs).toContain(old.runId);
        } finally {
          await sql`SELECT pg_advisory_unlock_all()`.execute(other);
        }
      });
    expect(await purgeExpired(db(), SETTINGS)).toMatchObject({ outcome: 'purged', deleted: { runs: 1 } });
  });

  it('stops between batches when the worker shuts down; the next pass finishes the work', async () => {
    const place = await seedPlace(db(), 10);
    const old = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(41), finishedAt: daysAgo(40), deliveries: 9 });
    const stopping = new AbortController();
    const first = await purgeExpired(db(), SETTINGS, { signal: stopping.signal, onBatch: (deleted) => deleted.deliveries && stopping.abort() });
    expect(first).toMatchObject({ outcome: 'stopped', deleted: { deliveries: 3, runs: 0 } });
    expect((await snapshot(db(), place)).deliveries).toHaveLength(6);

    expect(await purgeExpired(db(), SETTINGS)).toMatchObject({ outcome: 'purged', deleted: { deliveries: 6, runs: 1 } });
    expect((await snapshot(db(), place)).runs).not.toContain(old.runId);
  });

  it('bounds each batch by a statement timeout: a batch stuck behind a lock fails the pass, and releases the retention lock', async () => {
    const place = await seedPlace(db(), 2);
    const old = await seedRun(db(), place, { status: 'completed', createdAt: daysAgo(41), finishedAt: daysAgo(40), deliveries: 2 });
    // A long transaction holding one of the run's deliveries (a late receipt, say).
    await db()
      .transaction()
      .execute(async (trx) => {
        await sql`SELECT 1 FROM deliveries WHERE id = ${old.deliveryIds[0]} FOR UPDATE`.execute(trx);
        await expect(purgeExpired(db(), { ...SETTINGS, statementTimeoutMs: 200 })).rejects.toMatchObject({ code: '57014' });
      });
    // The failed pass left nothing half-done and no lock behind: the next one completes.
    expect(await purgeExpired(db(), SETTINGS)).toMatchObject({ outcome: 'purged', deleted: { runs: 1 } });
  });
});

describe('retention: the maintenance.retention job', () => {
  const registry = new Registry();
  const running = useInProcessWorkers({
    concurrency: 2,
    queues: ['maintenance'],
    ctx: {
      retention: {
        ...SETTINGS,
        metrics: createRetentionMetrics(registry),
        stopping: new AbortController().signal,
      },
    },
  });

  it('runs on its schedule and counts what it deleted in herald_retention_deleted_total', async () => {
    const db = running.database.current.db;
    const place = await seedPlace(db, 4);
    const old = await seedRun(db, place, { status: 'completed', createdAt: daysAgo(41), finishedAt: daysAgo(40), deliveries: 4 });
    const schedule = keepRetentionScheduled(running.producer, 200, testLogger());
    try {
      await waitFor(async () => !(await snapshot(db, place)).runs.includes(old.runId), { timeoutMs: 10_000, what: 'the old run purged' });
    } finally {
      schedule.stop();
    }
    const metrics = await registry.getMetricsAsJSON();
    const deleted = metrics.find((m) => m.name === 'herald_retention_deleted_total')!.values;
    const of = (table: string) => deleted.find((v) => v.labels['table'] === table)?.value;
    expect([of('runs'), of('deliveries'), of('triggers'), of('provider_messages')]).toEqual([1, 4, 1, 4]);
  });
});
