import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { deleteKeysWithPrefix, freePort, TEST_REDIS_URL, testQueuePrefix, waitFor } from '@herald/testing';
import { createRedis } from './connection';
import { redisQueueBackend } from './backend';
import { JobProducer } from './producer';

/**
 * A producer whose Redis is down when it is first used recovers when Redis comes back (a
 * BullMQ Queue made while Redis is down never would). Runs a Redis server of its own.
 */
describe('JobProducer when Redis comes back', () => {
  it('fails fast while Redis is down, then arms timers once it is up', async () => {
    const port = await freePort();
    const redis = createRedis(`redis://127.0.0.1:${port}`, 'producer');
    const producer = new JobProducer(redisQueueBackend(redis, testQueuePrefix()));
    const payload = { broadcastId: '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11' };
    let server: ReturnType<typeof spawn> | undefined;
    try {
      await waitFor(() => redis.status === 'reconnecting', { what: 'a refused connection' });
      await expect(producer.armTimer('broadcast.dispatch', payload, 60_000)).rejects.toThrow(/redis connection is/);
      server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitFor(() => redis.status === 'ready', { timeoutMs: 10_000, what: 'the connection to come up' });
      await producer.armTimer('broadcast.dispatch', payload, 60_000);
      expect(await producer.isTimerArmed('broadcast.dispatch', payload)).toBe(true);
    } finally {
      await producer.close();
      redis.disconnect();
      server?.kill('SIGTERM');
    }
  });
});

describe('JobProducer.ensureTimerArmed after a partial loss of Redis data', () => {
  it('arms a timer whose deduplication entry names a job in no state, where armTimer cannot', async () => {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const prefix = testQueuePrefix();
    const producer = new JobProducer(redisQueueBackend(redis, prefix));
    const payload = { broadcastId: '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11' };
    try {
      await producer.armTimer('broadcast.dispatch', payload, 60_000);
      // Lose the delayed set only: the job hash and the deduplication entry survive.
      await redis.del(`${prefix}:dispatch:delayed`);
      expect(await producer.isTimerArmed('broadcast.dispatch', payload)).toBe(false);
      await producer.armTimer('broadcast.dispatch', payload, 0);
      expect(await producer.isTimerArmed('broadcast.dispatch', payload)).toBe(false); // BullMQ took it for a duplicate

      expect(await producer.ensureTimerArmed('broadcast.dispatch', payload, 0)).toBe(true);
      expect(await producer.isTimerArmed('broadcast.dispatch', payload)).toBe(true);
      expect(await producer.ensureTimerArmed('broadcast.dispatch', payload, 0)).toBe(false); // armed: left alone
      expect(await producer.queue('dispatch').getJobCounts('waiting', 'delayed')).toEqual({ waiting: 1, delayed: 0 });
    } finally {
      await producer.close();
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
    }
  });
});
