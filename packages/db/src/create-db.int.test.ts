import { sql } from 'kysely';
import { proxyInFrontOf, useTestDatabase } from '@herald/testing';
import { createDb, prepared } from './create-db';

/**
 * Postgres going away mid-query (restart, failover, network cut), simulated by cutting a TCP
 * proxy in front of the real server: the query fails, the process survives (pg would otherwise
 * throw an unheard 'error' event from the connection in use), and the pool serves again once
 * Postgres is back.
 */
describe('createDb when Postgres goes away mid-query', () => {
  const database = useTestDatabase();

  it('fails the query in flight, keeps the process alive, and reconnects afterwards', async () => {
    const { proxy, url } = await proxyInFrontOf(database.current.url);
    const poolErrors: Error[] = [];
    const db = createDb({ url, poolSize: 2, onPoolError: (error) => poolErrors.push(error) });
    try {
      const inFlight = db.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx);
        await sql`SELECT pg_sleep(5)`.execute(trx);
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      proxy.cut();
      await expect(inFlight).rejects.toThrow();
      expect(poolErrors.length).toBeGreaterThan(0); // heard, not thrown

      await expect(sql`SELECT 1`.execute(db)).rejects.toThrow(); // still cut: fails fast
      proxy.restore();
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
      await proxy.close();
    }
  });
});

describe('statements marked prepared()', () => {
  const database = useTestDatabase();

  it('are prepared once per connection under their name and answer like any statement; others are not', async () => {
    const db = createDb({ url: database.current.url, poolSize: 1 });
    try {
      const marked = (n: number) => sql<{ doubled: number }>`${prepared('doubling')} SELECT ${n}::int * 2 AS doubled`.execute(db);
      expect((await marked(2)).rows).toEqual([{ doubled: 4 }]);
      expect((await marked(21)).rows).toEqual([{ doubled: 42 }]);
      await sql`SELECT 1`.execute(db);
      // One connection: what it holds prepared is what this pool sent.
      const { rows } = await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`.execute(db);
      expect(rows).toEqual([{ name: 'doubling', statement: expect.stringContaining('SELECT $1::int * 2') }]);
    } finally {
      await db.destroy();
    }
  });

  it('refuses a name that could not be told apart from the text', () => {
    expect(() => prepared('claim */ DROP')).toThrow(/must be lower-case letters/);
  });
});
