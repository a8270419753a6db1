import { startRedisCluster, testQueuePrefix, waitFor, type TestRedisCluster } from '@herald/testing';
import { createRedis, pingRedis } from './connection';
import { redisQueueBackend } from './backend';
import { JobProducer } from './producer';

/**
 * createRedis on a Redis Cluster of this file's own (three masters, started and removed here):
 * BullMQ's queues under a hash-tagged prefix, and a readiness probe that tells when the master
 * of Herald's slot is gone although the other masters still answer.
 */
describe('createRedis on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(() => cluster.stop());

  const payload = { broadcastId: '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11' };

  it('runs the queues under a hash-tagged prefix, and refuses a prefix without one', async () => {
    const [first, ...others] = cluster.seeds;
    const redis = createRedis(`redis://${first}`, 'producer', { cluster: { nodes: others } });
    const prefix = `{${testQueuePrefix()}}`;
    const producer = new JobProducer(redisQueueBackend(redis, prefix));
    try {
      await waitFor(() => redis.status === 'ready', { what: 'the cluster connection' });
      expect(redis.isCluster).toBe(true);
      await producer.armTimer('broadcast.dispatch', payload, 60_000);
      expect(await producer.isTimerArmed('broadcast.dispatch', payload)).toBe(true);
      await producer.markQueuesIntact();
      expect(await producer.areQueuesIntact()).toBe(true);
      expect(() => redisQueueBackend(redis, 'herald')).toThrow('queue prefix "herald" has no hash tag, which a Redis Cluster needs: use {herald}');
    } finally {
      await producer.close();
      redis.disconnect();
    }
  });

  it('is unready while the master of its slot is down, though the other masters answer PING', async () => {
    // Seeded from one node only: the others are found through it.
    const redis = createRedis(`redis://${cluster.seeds[0]}`, 'producer', { cluster: { nodes: [] }, onError: () => undefined });
    const prefix = `{${testQueuePrefix()}}`;
    const probeKey = `${prefix}:herald:probe`;
    const producer = new JobProducer(redisQueueBackend(redis, prefix));
    try {
      await waitFor(() => redis.status === 'ready', { what: 'the cluster connection' });
      await pingRedis(redis, 1_000, probeKey);
      const port = await cluster.portServing(prefix);
      await cluster.kill(port);

      expect(await redis.ping()).toBe('PONG'); // some other master
      await expect(pingRedis(redis, 1_000, probeKey)).rejects.toThrow();
      const started = Date.now();
      await expect(producer.armTimer('broadcast.dispatch', payload, 1_000)).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(3_000); // a producer fails fast, as on one server

      await cluster.restart(port);
      await waitFor(() => pingRedis(redis, 1_000, probeKey).then(() => true), { timeoutMs: 10_000, what: 'ready again' });
      await producer.armTimer('broadcast.dispatch', payload, 1_000);
      expect(await producer.isTimerArmed('broadcast.dispatch', payload)).toBe(true);
    } finally {
      await producer.close();
      redis.disconnect();
    }
  }, 30_000);
});
