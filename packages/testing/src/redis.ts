import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { postgresQueueBackend, redisQueueBackend, type QueueBackend } from '@herald/queue';
import { testBackend } from './database';
import { TEST_REDIS_URL, testRunId } from './env';
import { perTestFile } from './per-file';

/** Every prefix of one jest run starts with this, so the global teardown can sweep them. */
export function runQueuePrefix(runId = testRunId()): string {
  return `herald-test-${runId}`;
}

/** A BullMQ prefix no other test uses, so queues of parallel tests never meet. */
export function testQueuePrefix(): string {
  return `${runQueuePrefix()}-${randomBytes(5).toString('hex')}`;
}

/** Deletes every key matching `pattern` (SCAN, never KEYS, so a busy Redis is not blocked). */
export async function deleteKeysMatching(redis: Redis, pattern: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

export function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  return deleteKeysMatching(redis, `${prefix}:*`);
}

export interface TestRedis {
  /** A connection suitable for BullMQ workers and queues alike. */
  redis: Redis;
  prefix: string;
}

/**
 * Registers beforeAll/afterAll: a Redis connection and a prefix of the file's own, cleaned up.
 * Jest runs afterAll hooks in declaration order, so a test that starts workers on this
 * connection declares its own afterAll (stopping them) before calling this.
 */
export function useTestRedis(): { readonly current: TestRedis } {
  return perTestFile('the test Redis exists', {
    start: () => ({ redis: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix: testQueuePrefix() }),
    stop: async ({ redis, prefix }) => {
      await deleteKeysWithPrefix(redis, prefix);
      await redis.quit();
    },
  });
}

/**
 * Where a test file's queues are on this pass's backend (see `testBackend`): its Redis prefix,
 * or its embedded database.
 */
export function testQueueBackend(database: { url: string }, redis: TestRedis): QueueBackend {
  return testBackend() === 'embedded' ? postgresQueueBackend(database.url) : redisQueueBackend(redis.redis, redis.prefix);
}
