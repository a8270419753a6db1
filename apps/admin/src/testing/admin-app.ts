import { createMetricsRegistry } from '@herald/service';
import { serveApp, testLogger, type ServedApp, type TestDatabase } from '@herald/testing';
import { createApp, type AdminDeps } from '../app';

/** Test support (excluded from the build): the admin app as the admin tests serve it. */

export const ADMIN_TEST_KEY = 'test-admin-key-0123456789abcdef';

/**
 * Registers beforeAll/afterAll: the admin app over real HTTP on loopback, on the file's test
 * database, behind ADMIN_TEST_KEY. `overrides` is read in beforeAll, so it may use what other
 * helpers made there (a producer on the test's Redis).
 */
export function useAdminApp(database: { readonly current: TestDatabase }, overrides: () => Partial<AdminDeps> = () => ({})): { readonly url: string } {
  let served: ServedApp | undefined;
  beforeAll(async () => {
    served = await serveApp(
      createApp({
        logger: testLogger('admin'),
        checks: {},
        metrics: createMetricsRegistry('admin-test'),
        db: database.current.db,
        adminApiKey: ADMIN_TEST_KEY,
        publicUrl: 'http://localhost:3000',
        ...overrides(),
      }),
    );
  });
  afterAll(() => served?.close());
  return {
    get url(): string {
      if (!served) throw new Error('the admin app exists only inside tests (beforeAll has not run)');
      return served.url;
    },
  };
}
