import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createDb, migrateToLatest, type Db } from '@herald/db';
import { migrateQueueSchema, postgresQueueBackend } from '@herald/queue';
import { startEmbeddedDatabaseProcess } from './embedded';
import { TEST_ADMIN_DATABASE_URL, testRunId } from './env';
import { perTestFile } from './per-file';

/** All databases of one jest run share this prefix, so the teardown can sweep them. */
export function runDatabasePrefix(runId = testRunId()): string {
  return `herald_test_${runId}`;
}

export function templateDatabaseName(runId = testRunId()): string {
  return `${runDatabasePrefix(runId)}_template`;
}

export function databaseUrl(name: string): string {
  const url = new URL(TEST_ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs statements on the maintenance database (CREATE/DROP DATABASE cannot run in a pool tx). */
export async function withAdminClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_ADMIN_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Names are made here from hex, never from input; quoting is belt and braces. */
function quoteIdent(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected database name ${name}`);
  return `"${name}"`;
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

/**
 * The run's migrated template, created by the first test file that needs it; the others wait
 * on an advisory lock and then clone it, which takes milliseconds. (It is made here, in the
 * test workers, rather than in jest's global setup because only the workers resolve
 * `@herald/*` to sources: a global setup would migrate with whatever was last built.)
 */
let templateReady: Promise<string> | undefined;

export function ensureTemplateDatabase(): Promise<string> {
  templateReady ??= createTemplateOnce(templateDatabaseName());
  return templateReady;
}

async function createTemplateOnce(name: string): Promise<string> {
  await withAdminClient(async (client) => {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount) return;
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      const db = createDb({ url: databaseUrl(name), poolSize: 1 });
      try {
        await migrateToLatest(db);
      } finally {
        // The template must have no open connection, or CREATE DATABASE … TEMPLATE refuses it.
        await db.destroy();
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [name]);
    }
  });
  return name;
}

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

const SOURCE_IN_USE = '55006';

async function createDatabase(name: string, template: string | undefined): Promise<void> {
  const sql = `CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`;
  // Two files cloning the template at the same instant can see each other's brief
  // connection to it; retry a few times rather than fail the test file.
  for (let attempt = 1; ; attempt++) {
    try {
      await withAdminClient((c) => c.query(sql));
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== SOURCE_IN_USE || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

/**
 * The backend this jest pass tests on: `services` (this machine's Postgres and Redis), or with
 * HERALD_TEST_BACKEND=embedded the embedded one — each file's database an in-memory PGlite of
 * its own, the queues in it (`pnpm test` runs the hook, dispatch and delivery tests both ways).
 */
export function testBackend(): 'services' | 'embedded' {
  return process.env['HERALD_TEST_BACKEND'] === 'embedded' ? 'embedded' : 'services';
}

/**
 * A database of its own for one test file: a clone of the migrated template, or with
 * `{ migrated: false }` an empty one (for testing the migrations themselves). On the embedded
 * backend, an in-memory PGlite in a process of its own, migrated (BullMQ's schema too).
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  if (testBackend() === 'embedded') return createEmbeddedTestDatabase(options);
  const name = `${runDatabasePrefix()}_${randomBytes(4).toString('hex')}`;
  await createDatabase(name, options.migrated === false ? undefined : await ensureTemplateDatabase());
  const url = databaseUrl(name);
  const db = createDb({ url, poolSize: 5 });
  return {
    name,
    url,
    db,
    async drop() {
      await db.destroy();
      await dropDatabase(name);
    },
  };
}

async function createEmbeddedTestDatabase(options: { migrated?: boolean }): Promise<TestDatabase> {
  const server = await startEmbeddedDatabaseProcess();
  const db = createDb({ url: server.url, poolSize: 5 });
  try {
    if (options.migrated !== false) {
      await migrateToLatest(db);
      await migrateQueueSchema(postgresQueueBackend(server.url));
    }
  } catch (error) {
    await db.destroy();
    await server.stop();
    throw error;
  }
  return {
    name: 'embedded',
    url: server.url,
    db,
    async drop() {
      await db.destroy();
      await server.stop();
      // A transaction that kept the others waiting is worth seeing next to the test that hung.
      if (server.errors()) console.warn(`embedded database: ${server.errors()}`);
    },
  };
}

/** Registers beforeAll/afterAll for a test file's own database. */
export function useTestDatabase(options: { migrated?: boolean } = {}): { readonly current: TestDatabase } {
  return perTestFile('the test database exists', { start: () => createTestDatabase(options), stop: (database) => database.drop() });
}

export type { Db };
