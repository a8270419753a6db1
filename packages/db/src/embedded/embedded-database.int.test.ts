import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedDatabaseProcess } from '@herald/testing';

/** One process per data folder; the data outlives the process, a kill -9 included. */
describe('the embedded database on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-embedded-db-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function query<T>(url: string, sql: string): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  it('refuses a second process on the folder, naming the first, and keeps what a killed one committed', async () => {
    const dataDir = join(dir, 'data');
    const first = await startEmbeddedDatabaseProcess({ dataDir });
    await query(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)');
    await expect(startEmbeddedDatabaseProcess({ dataDir })).rejects.toThrow(/is in use by process \d+/);

    await first.stop('SIGKILL');
    const second = await startEmbeddedDatabaseProcess({ dataDir }); // takes the dead one's lock over
    try {
      expect(await query<{ n: number }>(second.url, 'SELECT n FROM kept ORDER BY n')).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
