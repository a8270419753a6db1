import { spawn } from 'node:child_process';
import { freePort, testQueuePrefix, waitFor } from '@herald/testing';
import { createRedis } from './connection';
import { JobProducer } from './producer';

/**
 * A producer whose Redis is down when it is first used recovers when Redis comes back (a
 * BullMQ Queue made while Redis is down never would). Runs a Redis server of its own.
 */
describe('JobProducer when Redis comes back', () => {
  it('fails fast while Redis is down, then arms timers once it is up', async () => {
    const port = await freePort();
    const redis = createRedis(`redis://127.0.0.1:${port}`, 'producer');
    const producer = new JobProducer(redis, testQueuePrefix());
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
