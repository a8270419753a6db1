import { sql } from 'kysely';
import { createBroadcastRow, startReadyProcess, startRedisCluster, waitFor, type StartedProcess, type TestRedisCluster } from '@herald/testing';
import { useDeliveryKit } from './support/delivery-kit';

/**
 * Herald on a Redis Cluster (three masters, no replicas, no persistence, of this file's own),
 * with the real ingress and worker processes given only its seeds: hook call → dispatch →
 * delivery to the fake provider. Then the master serving Herald's slot (the prefix's hash tag
 * puts every Herald key in one slot) is SIGKILLed in the middle of a run, and started again
 * on the same ports with the same nodes.conf: it takes its slots back, empty.
 *
 * What a user sees meanwhile (the figures are logged):
 * - every hook call answers 200: the trigger is committed to Postgres; arming its timer fails
 *   (`dispatch timer not armed` in the log) after up to about 2 s of redirections;
 * - `/readyz` of the ingress and the worker answer 503 naming Redis within a second or two
 *   (a PING would still be answered by the other masters: the probe reads a key of the slot);
 * - nothing is sent; the run in progress stops where it was;
 * - once the master is back, `/readyz` is 200 again, the reconciler sees its marker gone with
 *   the queues, hands the run's deliveries off again and re-arms the timers of the calls made
 *   during the outage: every accepted call's run completes, every delivery is sent.
 */

const CONTACTS = 40;

describe('Redis Cluster: a broadcast end to end, and a master killed under it', () => {
  const kit = useDeliveryKit();
  let cluster: TestRedisCluster | undefined;
  const processes: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await cluster?.stop();
  });

  it('accepts calls through the outage and completes every run once the master is back', async () => {
    const { db, url } = kit.database.current;
    cluster = await startRedisCluster({ nodeTimeoutMs: 2_000 });
    const [first, ...others] = cluster.seeds;
    // Only the seeds: the default prefix is then {herald}, on the ingress and the worker alike.
    const env = { DATABASE_URL: url, REDIS_URL: `redis://${first}`, REDIS_CLUSTER_NODES: others.join(','), LOG_LEVEL: 'error' };
    const ingress = await startReadyProcess('ingress', env);
    const worker = await startReadyProcess('worker', {
      ...env,
      OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1',
      RECONCILE_INTERVAL_MS: '500',
      WORKER_STALLED_INTERVAL_MS: '2000',
      DELIVERY_RETRY_BASE_MS: '200',
      DELIVERY_LEASE_MS: '3000',
      DELIVERY_CHUNK_SIZE: '10',
    });
    processes.push(ingress.process, worker.process);

    const hook = async (token: string) => {
      const started = Date.now();
      const response = await fetch(`http://127.0.0.1:${ingress.port}/hooks/${token}`, { method: 'POST' });
      return { status: response.status, ms: Date.now() - started };
    };
    const readiness = async (port: number) => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;

    // 1. A run through the cluster: 40 contacts at 20/s (the throttle's script runs there too).
    const { bot, broadcast: a } = await kit.audience('custom', CONTACTS, 20);
    const b = await createBroadcastRow(db, bot.id, { delay_ms: 0 });
    const c = await createBroadcastRow(db, bot.id, { delay_ms: 0 });
    const calls = [await hook(a.hook_token)];
    await waitFor(() => kit.fake.requestsOf('custom').length >= 10 || undefined, { timeoutMs: 20_000, what: 'the first sends' });

    // 2. The master of Herald's slot is killed in the middle of that run.
    const port = await cluster.portServing('{herald}');
    await cluster.kill(port);
    const killedAt = Date.now();
    const sentAtKill = kit.fake.requestsOf('custom').length;
    expect(sentAtKill).toBeLessThan(CONTACTS);

    // 3. Both processes say they are unready; calls are accepted all the same, before and after
    //    the cluster declares itself failed (after its node timeout, 2 s here).
    await waitFor(async () => (await readiness(ingress.port)) === 503 || undefined, { timeoutMs: 10_000, what: 'the ingress unready' });
    await waitFor(async () => (await readiness(worker.port)) === 503 || undefined, { timeoutMs: 10_000, what: 'the worker unready' });
    const unreadyAfterMs = Date.now() - killedAt;
    calls.push(await hook(a.hook_token), await hook(b.hook_token), await hook(c.hook_token));
    const survivor = cluster.nodes.find((n) => n.port !== port)!.port;
    await waitFor(async () => (await cluster!.state(survivor)) === 'fail' || undefined, { timeoutMs: 15_000, what: 'cluster_state:fail' });
    calls.push(await hook(b.hook_token), await hook(c.hook_token));
    expect(calls.map((call) => call.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const unready = (await (await fetch(`http://127.0.0.1:${ingress.port}/readyz`)).json()) as { errors?: Record<string, string> };
    expect(Object.keys(unready.errors ?? {})).toEqual(['redis']);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(kit.fake.requestsOf('custom').length).toBeLessThanOrEqual(sentAtKill + 10); // at most the claim in flight

    // 4. The master back, empty: every accepted call's run completes.
    const outageMs = Date.now() - killedAt;
    await cluster.restart(port);
    const restartedAt = Date.now();
    await waitFor(async () => (await readiness(ingress.port)) === 200 || undefined, { timeoutMs: 15_000, what: 'the ingress ready again' });
    await waitFor(async () => (await readiness(worker.port)) === 200 || undefined, { timeoutMs: 15_000, what: 'the worker ready again' });
    const readyAgainMs = Date.now() - restartedAt;
    const broadcasts = [a.id, b.id, c.id];
    const settled = () =>
      sql<{ triggers: number; dispatched: number; runs: number; completed: number; sent: number }>`
        SELECT (SELECT count(*)::int FROM triggers WHERE broadcast_id = ANY(${broadcasts})) AS triggers,
               (SELECT count(*)::int FROM triggers t JOIN runs r ON r.id = t.run_id
                 WHERE t.broadcast_id = ANY(${broadcasts}) AND t.status = 'dispatched' AND r.status = 'completed') AS dispatched,
               (SELECT count(*)::int FROM runs WHERE broadcast_id = ANY(${broadcasts})) AS runs,
               (SELECT count(*)::int FROM runs WHERE broadcast_id = ANY(${broadcasts}) AND status = 'completed') AS completed,
               (SELECT count(*)::int FROM deliveries d JOIN runs r ON r.id = d.run_id
                 WHERE r.broadcast_id = ANY(${broadcasts}) AND d.status = 'sent') AS sent`
        .execute(db)
        .then(({ rows }) => rows[0]!);
    const done = await waitFor(
      async () => {
        const now = await settled();
        return now.dispatched === now.triggers && now.completed === now.runs ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'every accepted call dispatched and its run completed' },
    );
    const recoveredMs = Date.now() - restartedAt;

    // Six calls to three broadcasts: A's second call came during A's run, so A has two runs;
    // B's and C's two calls each waited in Postgres and went into one run each.
    expect(done).toEqual({ triggers: 6, dispatched: 6, runs: 4, completed: 4, sent: 4 * CONTACTS });
    const deliveries = await db
      .selectFrom('deliveries')
      .innerJoin('runs', 'runs.id', 'deliveries.run_id')
      .select(['deliveries.status', 'deliveries.id'])
      .where('runs.broadcast_id', 'in', broadcasts)
      .execute();
    expect(deliveries.filter((d) => d.status !== 'sent')).toEqual([]);
    const received = new Set(kit.fake.requestsOf('custom').map((r) => String(r.headers['idempotency-key'])));
    expect(deliveries.filter((d) => !received.has(d.id))).toEqual([]);
    console.info(
      `hook calls during the outage answered 200 in ${calls
        .slice(1)
        .map((call) => call.ms)
        .join(', ')} ms; /readyz 503 within ${unreadyAfterMs} ms; outage ${outageMs} ms; ` +
        `/readyz 200 again ${readyAgainMs} ms and every run completed ${recoveredMs} ms after the master came back; ${kit.fake.requestsOf('custom').length} requests for ${deliveries.length} deliveries`,
    );
  }, 120_000);
});
