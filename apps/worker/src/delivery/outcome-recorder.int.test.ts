import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { createBotRow, createBroadcastRow, testLogger, useTestDatabase } from '@herald/testing';
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
});
