import { sql } from 'kysely';
import { useTestDatabase } from '@herald/testing';
import { deliveryOutcomesByBucket } from './delivery-timeline.queries';

describe('deliveryOutcomesByBucket', () => {
  const database = useTestDatabase();
  const runIds = ['7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11'];

  it('gives up past its timeout (undefined), leaving the pool usable, instead of holding a page', async () => {
    const { db } = database.current;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    // An exclusive lock makes the count wait, as a count over millions of deliveries would.
    const lock = db.transaction().execute(async (trx) => {
      await sql`LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE`.execute(trx);
      locked();
      await released;
    });
    await holding;
    const started = Date.now();
    expect(await deliveryOutcomesByBucket(db, { runIds, bucketSeconds: 60, timeoutMs: 200 })).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
    release();
    await lock;
    expect(await deliveryOutcomesByBucket(db, { runIds, bucketSeconds: 60, timeoutMs: 200 })).toEqual([]);
    // The timeout was the transaction's own: a later statement on the pool is not limited by it.
    const { rows } = await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(db);
    expect(rows[0]!.statement_timeout).toBe('0');
  });
});
