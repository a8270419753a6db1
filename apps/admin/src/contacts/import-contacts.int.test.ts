import { sql } from 'kysely';
import { createBotRow, testBackend, testLogger, useTestDatabase, waitFor } from '@herald/testing';
import { importContacts } from './import-contacts';
import type { ImportRecord } from './import-records';

/** The embedded backend's single-process Postgres has no other session to end. */
const onServicesOnly = testBackend() === 'services' ? it : it.skip;

describe('importContacts: a bounded transaction', () => {
  const database = useTestDatabase();

  onServicesOnly(
    'ends the transaction of a client that stalls (its contacts unlocked, nothing saved), instead of holding it until the request times out',
    async () => {
      const { db } = database.current;
      const bot = await createBotRow(db);
      let release!: () => void;
      const stalled = new Promise<void>((resolve) => (release = resolve));
      // 1,500 contacts (one batch written inside the transaction), then nothing: a stalled client.
      async function* records(): AsyncGenerator<ImportRecord> {
        for (let line = 1; line <= 1_500; line++) yield { line, contact: { bot_channel: 'WebChannel', user_id: `stalled-${line}` } };
        await stalled;
        throw new Error('the client went away');
      }
      const importing = importContacts(db, bot.id, records(), testLogger('admin'), { idleTimeoutMs: 500 }).catch((error: unknown) => error);

      const idleInTransaction = async () =>
        (
          await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()`.execute(db)
        ).rows[0]!.n;
      await waitFor(async () => (await idleInTransaction()) === 1, { what: 'the import to be waiting, its transaction open' });
      // Postgres ends it after 500 ms idle; the client is still "connected".
      await waitFor(async () => (await idleInTransaction()) === 0, { timeoutMs: 5_000, what: 'Postgres to end the idle transaction' });
      const saved = await db.selectFrom('contacts').select(db.fn.countAll<string>().as('n')).where('bot_id', '=', bot.id).executeTakeFirstOrThrow();
      expect(Number(saved.n)).toBe(0);

      release();
      expect(await importing).toBeInstanceOf(Error);
    },
  );
});
