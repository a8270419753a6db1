import { Redis } from 'ioredis';
import { Client } from 'pg';

/**
 * Drops every database of this run — the template and any a crashed test file left behind —
 * and deletes every Redis key under the run's queue prefixes (processes started by e2e tests
 * leave some behind). Self-contained for the same reason as the global setup.
 */
export default async function globalTeardown(): Promise<void> {
  const runId = process.env['HERALD_TEST_RUN_ID'];
  if (!runId) return;
  await dropRunDatabases(runId);
  await deleteRunKeys(runId);
}

async function deleteRunKeys(runId: string): Promise<void> {
  const redis = new Redis(process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `herald-test-${runId}-*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function dropRunDatabases(runId: string): Promise<void> {
  const client = new Client({
    connectionString: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`herald_test_${runId}_`]);
    for (const { datname } of rows) {
      // Names match /^herald_test_[0-9a-f]+_[a-z0-9_]+$/ — made by the helpers, never by input.
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  } finally {
    await client.end();
  }
}
