import type { Job, Worker } from 'bullmq';
import { createWorker, JobProducer } from '@herald/queue';
import { createMetricsRegistry } from '@herald/service';
import {
  createBotRow,
  createBroadcastRow,
  serveApp,
  testLogger,
  testQueueBackend,
  useTestDatabase,
  useTestRedis,
  waitFor,
  type BroadcastOverrides,
  type ServedApp,
} from '@herald/testing';
import { createApp } from '../app';
import { createHookDeps } from './accept-hook-call';
import { HookBroadcastCache } from './broadcast-cache';

/**
 * The re-armable timer (SPEC §3.2), end to end through the hook: real HTTP, Postgres and a
 * BullMQ worker on this file's own prefix. Short configured delays, plus one real 10 s default.
 * The worker here stands in for the dispatcher: it records when each dispatch fired and claims
 * the broadcast's pending triggers, as the real one does.
 */

const TOLERANCE_MS = 250;
const logger = testLogger('timer-test');

interface Fired {
  broadcastId: string;
  firedAt: number;
  finishedAt: number;
  claimed: string[];
}

describe('the dispatch timer', () => {
  const fired: Fired[] = [];
  /** Dispatches that have started, by broadcast (fired ones are recorded when they finish). */
  const started: string[] = [];
  /** How long the stand-in dispatcher takes per broadcast (default: no time). */
  const busyFor = new Map<string, number>();
  let worker: Worker;
  let producer: JobProducer;
  let ingress: ServedApp;
  let botId: string;

  afterAll(async () => {
    await worker.close();
    await producer.close();
    await ingress.close();
  });
  const database = useTestDatabase();
  const redis = useTestRedis();

  beforeAll(async () => {
    const { db } = database.current;
    const backend = testQueueBackend(database.current, redis.current);
    producer = new JobProducer(backend);
    ingress = await serveApp(
      createApp({
        logger,
        checks: {},
        metrics: createMetricsRegistry('timer-test'),
        hooks: {
          deps: createHookDeps({ db, producer, logger, broadcasts: new HookBroadcastCache(db), maxTargetsPerCall: 10_000 }),
          trustedProxies: null,
          bodyLimitBytes: 1024 * 1024,
        },
      }),
    );
    worker = createWorker(
      backend,
      'dispatch',
      async (job: Job<{ broadcastId: string }>) => {
        const firedAt = Date.now();
        const { broadcastId } = job.data;
        started.push(broadcastId);
        // Claim first, then work, as the real dispatcher does.
        const claimed = await db
          .updateTable('triggers')
          .set({ status: 'dispatched' })
          .where('broadcast_id', '=', broadcastId)
          .where('status', '=', 'pending')
          .returning('id')
          .execute();
        await new Promise((resolve) => setTimeout(resolve, busyFor.get(broadcastId) ?? 0));
        fired.push({ broadcastId, firedAt, finishedAt: Date.now(), claimed: claimed.map((t) => t.id) });
      },
      { concurrency: 4 },
    );
    botId = (await createBotRow(db)).id;
  });

  const firedFor = (broadcastId: string) => fired.filter((f) => f.broadcastId === broadcastId);

  async function hit(token: string): Promise<{ trigger_id: string; scheduled_for: string }> {
    const response = await fetch(`${ingress.url}/hooks/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(200);
    return (await response.json()) as { trigger_id: string; scheduled_for: string };
  }

  async function receivedAt(triggerIds: string[]): Promise<number[]> {
    const rows = await database.current.db.selectFrom('triggers').select('received_at').where('id', 'in', triggerIds).execute();
    return rows.map((r) => r.received_at.getTime());
  }

  const broadcast = (overrides: BroadcastOverrides) => createBroadcastRow(database.current.db, botId, overrides);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('turns 100 concurrent calls into 100 triggers and exactly one dispatch, delay_ms after the last', async () => {
    const b = await broadcast({ delay_ms: 1_000 });
    const answers = await Promise.all(Array.from({ length: 100 }, () => hit(b.hook_token)));
    const lastAccepted = Math.max(...(await receivedAt(answers.map((a) => a.trigger_id))));

    await waitFor(() => firedFor(b.id).length === 1, { timeoutMs: 5_000, what: 'the dispatch' });
    await sleep(1_000); // room for a second, wrong dispatch to show up
    const runs = firedFor(b.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.claimed.sort()).toEqual(answers.map((a) => a.trigger_id).sort());
    expect(Math.abs(runs[0]!.firedAt - (lastAccepted + 1_000))).toBeLessThanOrEqual(TOLERANCE_MS);
    // The last answer's scheduled_for is when it actually fired.
    const latestScheduled = Math.max(...answers.map((a) => Date.parse(a.scheduled_for)));
    expect(Math.abs(runs[0]!.firedAt - latestScheduled)).toBeLessThanOrEqual(TOLERANCE_MS);
  });

  it('keeps postponing while calls keep coming, then dispatches delay_ms after the last', async () => {
    const b = await broadcast({ delay_ms: 600 });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await hit(b.hook_token)).trigger_id);
      await sleep(300);
    }
    // 6 calls 300 ms apart, each re-arming a 600 ms timer: nothing fired in between.
    expect(firedFor(b.id)).toHaveLength(0);
    const lastAccepted = Math.max(...(await receivedAt(ids)));
    await waitFor(() => firedFor(b.id).length === 1, { timeoutMs: 3_000, what: 'the dispatch' });
    expect(Math.abs(firedFor(b.id)[0]!.firedAt - (lastAccepted + 600))).toBeLessThanOrEqual(TOLERANCE_MS);
    expect(firedFor(b.id)[0]!.claimed).toHaveLength(6);
  });

  it('with max_delay_ms, cuts a stream of re-calls short: dispatch no later than that after the first', async () => {
    const b = await broadcast({ delay_ms: 1_000, max_delay_ms: 2_000 });
    const ids: string[] = [];
    const streamEnds = Date.now() + 3_500;
    while (Date.now() < streamEnds) {
      ids.push((await hit(b.hook_token)).trigger_id);
      await sleep(250);
    }
    await waitFor(() => firedFor(b.id).reduce((n, f) => n + f.claimed.length, 0) === ids.length, {
      timeoutMs: 5_000,
      what: 'every trigger to be dispatched',
    });
    const [firstAccepted] = (await receivedAt(ids.slice(0, 1))) as [number];
    const runs = firedFor(b.id);
    // Without the cap the stream would have postponed the dispatch until 1 s after its end.
    expect(Math.abs(runs[0]!.firedAt - (firstAccepted + 2_000))).toBeLessThanOrEqual(TOLERANCE_MS);
    expect(runs.length).toBeGreaterThanOrEqual(2); // calls after the first dispatch got their own
    expect(new Set(runs.flatMap((r) => r.claimed)).size).toBe(ids.length); // none lost, none twice
  });

  it('gives a call that arrives during a running dispatch a new timer and a dispatch of its own', async () => {
    const b = await broadcast({ delay_ms: 300 });
    busyFor.set(b.id, 1_500);
    const first = await hit(b.hook_token);
    await waitFor(() => started.includes(b.id), { what: 'the first dispatch to be running' });
    await sleep(100); // it has claimed the first trigger and is busy
    expect(firedFor(b.id)).toHaveLength(0);
    const during = await hit(b.hook_token); // the first dispatch is busy for 1.5 s
    await waitFor(() => firedFor(b.id).length === 2, { timeoutMs: 5_000, what: 'the second dispatch' });
    const [one, two] = firedFor(b.id) as [Fired, Fired];
    expect(two.firedAt).toBeGreaterThanOrEqual(one.finishedAt);
    expect([...one.claimed, ...two.claimed].sort()).toEqual([first.trigger_id, during.trigger_id].sort());
    expect(two.claimed).toContain(during.trigger_id);
  });

  it('waits the real default of 10 seconds', async () => {
    const b = await broadcast({});
    expect(b.delay_ms).toBe(10_000);
    const { trigger_id } = await hit(b.hook_token);
    const [accepted] = (await receivedAt([trigger_id])) as [number];
    await waitFor(() => firedFor(b.id).length === 1, { timeoutMs: 13_000, intervalMs: 20, what: 'the 10 s dispatch' });
    expect(Math.abs(firedFor(b.id)[0]!.firedAt - (accepted + 10_000))).toBeLessThanOrEqual(TOLERANCE_MS);
  }, 20_000);
});
