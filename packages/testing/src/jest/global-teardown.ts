import { Client } from 'pg';

/**
 * Drops every database of this run — the template and any a crashed test file left behind.
 * Self-contained for the same reason as the global setup.
 */
export default async function globalTeardown(): Promise<void> {
  const runId = process.env['HERALD_TEST_RUN_ID'];
  if (!runId) return;
  const client = new Client({
    connectionString: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [`herald_test_${runId}_`],
    );
    for (const { datname } of rows) {
      // Names match /^herald_test_[0-9a-f]+_[a-z0-9_]+$/ — made by the helpers, never by input.
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  } finally {
    await client.end();
  }
}
