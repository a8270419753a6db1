import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { cancelBroadcast, findRun } from '@herald/db';
import { freePort, testQueuePrefix, waitFor } from '@herald/testing';
import { useDeliveryKit } from './support/delivery-kit';

/**
 * Delivery across real worker processes (SPEC §4, §7): a cancel mid-run, a worker SIGKILLed
 * mid-run, Redis flushed mid-delivery. The providers are the fake on loopback, which the
 * workers are allowed to reach (OUTBOUND_ALLOWED_DESTINATIONS). The shared throttle's timing
 * is tested on its own, in `delivery-throttle.solo.test.ts`.
 */
describe('delivery across worker processes', () => {
  const kit = useDeliveryKit();
  const { database } = kit;

  it('cancels mid-run: nothing is sent after the cancel answers, the rest is skipped', async () => {
    const prefix = testQueuePrefix();
    await kit.startWorker(prefix, { DELIVERY_CHUNK_SIZE: '20' });
    const { broadcast } = await kit.audience('custom', 60, 10);
    const runId = await kit.launch(prefix, broadcast.id);
    await waitFor(() => kit.fake.requestsOf('custom').length >= 15 || undefined, { timeoutMs: 15_000, what: '15 sends' });

    const cancelled = await cancelBroadcast(database.current.db, broadcast.id);
    const answeredAt = Date.now();
    expect(cancelled.runs).toEqual([runId]);
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const late = kit.fake.requestsOf('custom').filter((r) => r.receivedAt > answeredAt + 50);
    expect(late).toEqual([]);
    const run = await findRun(database.current.db, runId);
    const counts = await kit.statusCounts(runId);
    expect(run!.status).toBe('cancelled');
    expect(counts['queued'] ?? 0).toBe(0);
    expect(counts['sending'] ?? 0).toBe(0);
    expect(counts['sent']).toBe(kit.fake.requestsOf('custom').length);
    expect(run!.sent + run!.skipped).toBe(60);
    expect(counts['skipped']).toBeGreaterThan(30);
    const reasons = await database.current.db
      .selectFrom('deliveries')
      .select('reason')
      .distinct()
      .where('run_id', '=', runId)
      .where('status', '=', 'skipped')
      .execute();
    expect(reasons.map((r) => r.reason)).toEqual(['cancelled']);
  }, 60_000);

  it('hands the rest of a run back on SIGTERM: the worker exits at once, nothing is sent twice', async () => {
    const prefix = testQueuePrefix();
    const env = { DELIVERY_CHUNK_SIZE: '100' };
    const first = await kit.startWorker(prefix, env);
    const { broadcast } = await kit.audience('custom', 300, 50);
    const runId = await kit.launch(prefix, broadcast.id);
    await waitFor(() => kit.fake.requestsOf('custom').length >= 50 || undefined, { timeoutMs: 15_000, what: '50 sends' });

    const stopped = await first.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(stopped.elapsedMs).toBeLessThan(5_000);
    const handedBack = await kit.statusCounts(runId);
    expect(handedBack['sending'] ?? 0).toBe(0); // every claim was sent and recorded before exit
    expect(handedBack['queued']).toBeGreaterThan(0);

    await kit.startWorker(prefix, env);
    const run = await kit.finished(runId, 30_000);
    expect(run).toMatchObject({ status: 'completed', sent: 300 });
    const received = [...(await kit.receivedPerDelivery(runId)).values()];
    expect(received.filter((n) => n !== 1)).toEqual([]);
  }, 60_000);

  it('finishes a run after a worker is SIGKILLed mid-run: every delivery final, duplicates counted', async () => {
    const prefix = testQueuePrefix();
    const env = { DELIVERY_LEASE_MS: '3000', DELIVERY_CHUNK_SIZE: '500' };
    const first = await kit.startWorker(prefix, env);
    const { broadcast } = await kit.audience('custom', 20_000, 2_000);
    const runId = await kit.launch(prefix, broadcast.id);
    await waitFor(() => kit.fake.requestsOf('custom').length >= 5_000 || undefined, { timeoutMs: 30_000, intervalMs: 20, what: '5,000 sends' });
    await first.stop('SIGKILL');
    const atKill = kit.fake.requestsOf('custom').length;
    await kit.startWorker(prefix, env);
    const run = await kit.finished(runId, 90_000);

    expect(run).toMatchObject({ status: 'completed', targeted: 20_000, sent: 20_000, failed: 0, skipped: 0 });
    expect(await kit.statusCounts(runId)).toEqual({ sent: 20_000 });
    const received = [...(await kit.receivedPerDelivery(runId)).values()];
    const twice = received.filter((n) => n > 1).length;
    console.log(`SIGKILL mid-run: ${atKill} sends before the kill; ${received.length} deliveries, ${twice} received twice (the at-least-once window)`);
    expect(received.filter((n) => n === 0)).toEqual([]);
    expect(received.filter((n) => n > 2)).toEqual([]);
    // What a crash can send again is bounded by what was in flight (DELIVERY_CONCURRENCY, 100)
    // plus the outcomes accepted but not yet written (at most MAX_UNWRITTEN_OUTCOMES, 500).
    expect(twice).toBeLessThanOrEqual(600);
  }, 150_000);

  it('finishes a run when Redis is flushed mid-delivery: nothing lost', async () => {
    const redisPort = await freePort();
    const server: ChildProcess = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    try {
      await waitFor(() => redis.status === 'ready', { timeoutMs: 10_000, what: 'the private Redis' });
      const prefix = testQueuePrefix();
      await kit.startWorker(prefix, { DELIVERY_CHUNK_SIZE: '100' }, redisUrl);
      const { broadcast } = await kit.audience('custom', 2_000, 200);
      const runId = await kit.launch(prefix, broadcast.id, redisUrl);
      await waitFor(() => kit.fake.requestsOf('custom').length >= 400 || undefined, { timeoutMs: 20_000, intervalMs: 20, what: '400 sends' });
      await redis.flushall();
      const run = await kit.finished(runId, 60_000);
      expect(run).toMatchObject({ status: 'completed', sent: 2_000 });
      expect(await kit.statusCounts(runId)).toEqual({ sent: 2_000 });
      const received = [...(await kit.receivedPerDelivery(runId)).values()];
      expect(received.filter((n) => n === 0)).toEqual([]);
    } finally {
      redis.disconnect();
      server.kill('SIGKILL');
    }
  }, 120_000);
});
