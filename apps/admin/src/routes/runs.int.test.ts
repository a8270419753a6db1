import { contactUpsert, createBotRow, createBroadcastRow, createTriggerRow, useTestDatabase } from '@herald/testing';
import { upsertContacts, type Db } from '@herald/db';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../testing/admin-app';

/** Reading triggers, runs and deliveries, and cancelling, over real HTTP. */

describe('admin API: triggers, runs, deliveries, cancel', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);
  let db: Db;
  beforeAll(() => {
    db = database.current.db;
  });

  async function get(path: string) {
    const response = await fetch(`${admin.url}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
    return { status: response.status, body: (await response.json()) as any };
  }

  /** A broadcast with a run in delivery: 5 deliveries, 2 sent, 1 failed, counted on the run as the worker counts them. */
  async function runInDelivery() {
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(
      db,
      bot.id,
      Array.from({ length: 5 }, (_, i) => contactUpsert('WebChannel', `v${i}`)),
    );
    const contacts = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').execute();
    const run = await db
      .insertInto('runs')
      .values({ broadcast_id: broadcast.id, status: 'delivering', targeted: 5, handed_off: 5, sent: 2, failed: 1 })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('deliveries')
      .values(
        contacts.map((c, i) => ({
          run_id: run.id,
          contact_id: c.id,
          channel: 'WebChannel' as const,
          status: i < 2 ? ('sent' as const) : i === 2 ? ('failed' as const) : ('queued' as const),
        })),
      )
      .execute();
    const trigger = await createTriggerRow(db, broadcast.id, { status: 'dispatched' });
    await db.updateTable('triggers').set({ run_id: run.id }).where('id', '=', trigger.id).execute();
    return { broadcast, run, trigger };
  }

  it("reads a trigger and lists a broadcast's triggers newest first, by status, page by page", async () => {
    const { broadcast, trigger } = await runInDelivery();
    const pending = [];
    for (let i = 0; i < 3; i++) pending.push(await createTriggerRow(db, broadcast.id)); // in order: seq follows
    expect((await get(`/v1/triggers/${trigger.id}`)).body).toMatchObject({ id: trigger.id, status: 'dispatched', broadcast_id: broadcast.id });

    const first = await get(`/v1/broadcasts/${broadcast.id}/triggers?limit=2`);
    expect(first.body.data.map((t: { id: string }) => t.id)).toEqual([pending[2]!.id, pending[1]!.id]);
    const second = await get(`/v1/broadcasts/${broadcast.id}/triggers?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.data.map((t: { id: string }) => t.id)).toEqual([pending[0]!.id, trigger.id]);
    const onlyPending = await get(`/v1/broadcasts/${broadcast.id}/triggers?status=pending`);
    expect(onlyPending.body.data).toHaveLength(3);
    expect(onlyPending.body.next_cursor).toBeNull();
    expect((await get(`/v1/broadcasts/${broadcast.id}/triggers?status=lost`)).status).toBe(400);
    expect((await get(`/v1/broadcasts/${broadcast.id}/triggers?cursor=garbage`)).status).toBe(400);
  });

  it('shows a run with exact counts, and pages through its deliveries by status', async () => {
    const { broadcast, run } = await runInDelivery();
    const read = await get(`/v1/runs/${run.id}`);
    expect(read.body).toMatchObject({ id: run.id, status: 'delivering', counts: { targeted: 5, handed_off: 5, sent: 2, failed: 1, skipped: 0, pending: 2 } });
    const runs = await get(`/v1/broadcasts/${broadcast.id}/runs`);
    expect(runs.body.data.map((r: { id: string }) => r.id)).toEqual([run.id]);
    // A list shows the counters recorded on each run (no scan of every run's deliveries), in
    // the same shape; nothing internal (the hand-off's resume point) leaks out.
    expect(runs.body.data[0]).toMatchObject({ status: 'delivering', counts: { targeted: 5, handed_off: 5, sent: 2, failed: 1, skipped: 0, pending: 2 } });
    expect(runs.body.data[0]).not.toHaveProperty('handed_off_through');

    const pageOne = await get(`/v1/runs/${run.id}/deliveries?limit=3`);
    expect(pageOne.body.data).toHaveLength(3);
    const pageTwo = await get(`/v1/runs/${run.id}/deliveries?limit=3&cursor=${pageOne.body.next_cursor}`);
    expect(pageTwo.body.data).toHaveLength(2);
    expect(pageTwo.body.next_cursor).toBeNull();
    const sent = await get(`/v1/runs/${run.id}/deliveries?status=sent`);
    expect(sent.body.data.map((d: { status: string }) => d.status)).toEqual(['sent', 'sent']);
  });

  it('cancels pending triggers and the run in progress: queued deliveries become skipped', async () => {
    const { broadcast, run } = await runInDelivery();
    const pending = await createTriggerRow(db, broadcast.id);
    const response = await fetch(`${admin.url}/v1/broadcasts/${broadcast.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
    expect(await response.json()).toEqual({ cancelled_triggers: 1, cancelled_runs: [run.id], skipped_deliveries: 2 });
    expect((await get(`/v1/triggers/${pending.id}`)).body.status).toBe('cancelled');
    expect((await get(`/v1/runs/${run.id}`)).body).toMatchObject({ status: 'cancelled', counts: { sent: 2, failed: 1, skipped: 2, pending: 0 } });
  });

  it('answers 404 for what does not exist', async () => {
    expect((await get('/v1/runs/7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11')).status).toBe(404);
    expect((await get('/v1/triggers/nope')).status).toBe(404);
    expect((await get('/v1/broadcasts/7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11/runs')).status).toBe(404);
  });
});
