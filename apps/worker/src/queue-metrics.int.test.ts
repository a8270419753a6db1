import { JobProducer, createRedis, redisQueueBackend } from '@herald/queue';
import { createMetricsRegistry } from '@herald/service';
import { freePort, testLogger, testQueuePrefix, useTestRedis } from '@herald/testing';
import { registerQueueMetrics } from './queue-metrics';

const logger = testLogger('queue-metrics-test');

describe('herald_queue_jobs', () => {
  let producer: JobProducer;
  afterAll(() => producer.close()); // before the Redis clean-up
  const redis = useTestRedis();

  it('counts the jobs of every queue by state at scrape time', async () => {
    producer = new JobProducer(redisQueueBackend(redis.current.redis, redis.current.prefix));
    const registry = createMetricsRegistry('worker-test');
    registerQueueMetrics(registry, producer, logger);
    const runId = '00000000-0000-4000-8000-000000000001';
    await producer.addBulk('delivery.chunk', [
      { runId, channel: 'SMSChannel', firstId: '1', lastId: '10' },
      { runId, channel: 'SMSChannel', firstId: '11', lastId: '20' },
      { runId, channel: 'CustomChannel', firstId: '21', lastId: '21' },
    ]);
    await producer.armTimer('broadcast.dispatch', { broadcastId: '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11' }, 60_000);

    const text = await registry.metrics();
    expect(text).toContain('herald_queue_jobs{queue="deliver-sms",state="waiting",service="worker-test"} 2');
    expect(text).toContain('herald_queue_jobs{queue="deliver-custom",state="waiting",service="worker-test"} 1');
    expect(text).toContain('herald_queue_jobs{queue="dispatch",state="delayed",service="worker-test"} 1');
    expect(text).toContain('herald_queue_jobs{queue="deliver-whatsapp",state="waiting",service="worker-test"} 0');
  });

  it('leaves the series out, not the whole scrape, while Redis is unreachable', async () => {
    const down = createRedis(`redis://127.0.0.1:${await freePort()}`, 'producer');
    const unreachable = new JobProducer(redisQueueBackend(down, testQueuePrefix()));
    try {
      const registry = createMetricsRegistry('worker-test');
      registerQueueMetrics(registry, unreachable, logger);
      const text = await registry.metrics();
      expect(text).toContain('herald_process_resident_memory_bytes');
      expect(text).not.toContain('herald_queue_jobs{');
    } finally {
      await unreachable.close();
      down.disconnect();
    }
  });
});
