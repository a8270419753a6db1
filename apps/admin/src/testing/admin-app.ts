import { JobProducer, redisQueueBackend } from '@herald/queue';
import { createMetricsRegistry } from '@herald/service';
import { serveApp, testLogger, TEST_SECRETS, useTestRedis, type ServedApp, type TestDatabase } from '@herald/testing';
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
        secrets: TEST_SECRETS,
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

/**
 * useAdminApp with the queue dashboard: a producer on the file's own Redis prefix. Its
 * afterAll is registered before the Redis helper's (jest runs them in that order), so the
 * producer closes before the prefix is cleaned up.
 */
export function useAdminAppWithDashboard(database: { readonly current: TestDatabase }): { readonly url: string; readonly producer: JobProducer } {
  let producer: JobProducer | undefined;
  afterAll(() => producer?.close());
  const redis = useTestRedis();
  beforeAll(() => {
    producer = new JobProducer(redisQueueBackend(redis.current.redis, redis.current.prefix));
  });
  const admin = useAdminApp(database, () => ({ producer: producer! }));
  return {
    get url() {
      return admin.url;
    },
    get producer() {
      if (!producer) throw new Error('the producer exists only inside tests (beforeAll has not run)');
      return producer;
    },
  };
}

/** An answer's JSON, read by the tests without a schema (they assert its shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index answers freely, as the inline copies did
type AnswerBody = Record<string, any>;

/**
 * A JSON call to the admin API behind ADMIN_TEST_KEY (`headers` may replace the key): its
 * status, parsed body (undefined when empty) and headers.
 */
export async function adminApi(
  admin: { readonly url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: AnswerBody; headers: Headers }> {
  const response = await fetch(`${admin.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TEST_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as AnswerBody, headers: response.headers };
}
