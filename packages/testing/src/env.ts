/**
 * Where the tests find Postgres and Redis. These are test settings, read here rather than
 * passed down because jest gives helpers no other channel; they default to the local services.
 */
export const TEST_ADMIN_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Set by the jest global setup: one id per `jest` run, used to name its databases. */
export function testRunId(): string {
  const id = process.env['HERALD_TEST_RUN_ID'];
  if (!id) throw new Error('HERALD_TEST_RUN_ID is not set: run the tests with jest (see jest.config.js)');
  return id;
}
