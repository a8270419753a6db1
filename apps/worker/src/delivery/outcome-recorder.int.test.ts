import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { createBotRow, createBroadcastRow, testLogger, useTestDatabase } from '@herald/testing';
import { finishDeliveries, releaseExpiredClaims } from '@herald/db';
import { MAX_UNWRITTEN_OUTCOMES, OutcomeRecorder } from './outcome-recorder';

/** The outcome writer's bound on what a crash could send again, against a real Postgres. */
describe('OutcomeRecorder', () => {
  const database = useTestDatabase();

  it('makes senders wait once MAX_UNWRITTEN_OUTCOMES are not written yet, and lets them go when writes catch up', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, status: 'delivering' }).returning('id').executeTakeFirstOrThrow();
    // Another session holds the run's row: every write of its outcomes waits behind it.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const blocker = db.transaction().execute(async (trx) => {
      await sql`SELECT 1 FROM runs WHERE id = ${run.id} FOR UPDATE`.execute(trx);
      locked();
      await released;
    });
    await isLocked;

    const recorder = new OutcomeRecorder(db, testLogger('recorder'));
    const outcome = (i: number) => ({
      id: String(i + 1),
      claim_id: randomUUID(),
      status: 'sent' as const,
      reason: null,
      error_code: null,
      last_error: null,
      provider_message_id: null,
      next_attempt_at: null,
      text: null,
    });
    const settled: boolean[] = [];
    const adds = Array.from({ length: MAX_UNWRITTEN_OUTCOMES + 2 }, (_, i) => {
      const added = recorder.add(run.id, outcome(i));
      void added.then(() => (settled[i] = true));
      return added;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled.filter(Boolean)).toHaveLength(MAX_UNWRITTEN_OUTCOMES);
    expect(settled[MAX_UNWRITTEN_OUTCOMES]).toBeUndefined();

    release();
    await blocker;
    await Promise.all(adds);
    await recorder.drain();
    expect(settled.filter(Boolean)).toHaveLength(MAX_UNWRITTEN_OUTCOMES + 2);
  });

  it('records an outcome only on the rows its claim holds, and the table ties a claim to sending', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, status: 'delivering', targeted: 4 }).returning('id').executeTakeFirstOrThrow();
    const contacts = await db
      .insertInto('contacts')
      .values([1, 2, 3, 4].map((i) => ({ bot_id: bot.id, bot_channel: 'CustomChannel' as const, user_id: `u${i}` })))
      .returning('id')
      .execute();
    const ours = randomUUID();
    const theirs = randomUUID();
    const claims = [ours, ours, theirs, null];
    const rows = await db
      .insertInto('deliveries')
      .values(
        contacts.map((contact, i) => ({
          run_id: run.id,
          contact_id: contact.id,
          channel: 'CustomChannel' as const,
          status: claims[i] ? ('sending' as const) : ('queued' as const),
          claim_id: claims[i],
        })),
      )
      .returning('id')
      .execute();

    // Every row claims to be ours: only the two our claim holds are written and counted.
    const outcomes = rows.map((row) => ({
      id: row.id,
      claim_id: ours,
      status: 'sent' as const,
      reason: null,
      error_code: null,
      last_error: null,
      provider_message_id: `m-${row.id}`,
      next_attempt_at: null,
      text: 'hi',
    }));
    await finishDeliveries(db, { runId: run.id, outcomes });
    const after = await db.selectFrom('deliveries').select(['status', 'claim_id']).where('run_id', '=', run.id).orderBy('id').execute();
    expect(after).toEqual([
      { status: 'sent', claim_id: null },
      { status: 'sent', claim_id: null },
      { status: 'sending', claim_id: theirs },
      { status: 'queued', claim_id: null },
    ]);
    const counts = await db.selectFrom('runs').select(['sent', 'status']).where('id', '=', run.id).executeTakeFirstOrThrow();
    expect(counts).toEqual({ sent: 2, status: 'delivering' });

    // What lets the statement find its rows by (id, claim_id) alone: no claim outside sending.
    await expect(db.updateTable('deliveries').set({ claim_id: randomUUID() }).where('id', '=', rows[3]!.id).execute()).rejects.toThrow(
      /deliveries_claim_held_while_sending/,
    );
    await expect(db.updateTable('deliveries').set({ status: 'sent' }).where('id', '=', rows[2]!.id).execute()).rejects.toThrow(
      /deliveries_claim_held_while_sending/,
    );
  });

  it('releases expired claims through more leases than one statement takes, in one call', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, status: 'delivering' }).returning('id').executeTakeFirstOrThrow();
    // A busy stretch of delivery: 12,000 claims that ended normally, their leases expired.
    await sql`
      INSERT INTO delivery_leases (claim_id, run_id, first_id, last_id, lease_until)
      SELECT gen_random_uuid(), ${run.id}, 1, 1, now() - interval '1 second' FROM generate_series(1, 12000)`.execute(db);
    expect(await releaseExpiredClaims(db, 5_000)).toEqual([]);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_leases WHERE run_id = ${run.id}`.execute(db);
    expect(rows[0]!.n).toBe(0);
  });
});
