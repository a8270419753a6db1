import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { findRun } from '@herald/db';
import { fakeAnswers, freePort, proxyInFrontOf, startReadyProcess, TEST_REDIS_URL, testQueuePrefix, waitFor, type StartedProcess } from '@herald/testing';
import { useDeliveryKit } from './support/delivery-kit';

/**
 * Faults with delivery in the loop (issue 13). A real ingress and two worker processes deliver
 * a 3,000-contact run to the fake provider, throttled to 400 messages/s with every answer 100 ms
 * late, and a quarter of the way through:
 *  (a) Redis is killed (SIGKILL) and started again on the same port, reloading its append-only file;
 *  (b) Postgres goes away for 5 s: every process connects through a TCP proxy that cuts every
 *      connection and refuses new ones, then lets them through again;
 *  (c) every process gets SIGTERM, and all are started again.
 * Meanwhile an external system keeps calling another broadcast's hook. Each time the run
 * completes with every delivery `sent`, the provider got every contact's message, what it got
 * twice is counted and held to what docs/architecture.md promises (Delivery guarantees), and
 * every call answered 200 ends in a completed run.
 */

const CONTACTS = 3_000;
/** The connection's rate: about 7.5 s of delivery, so the fault lands in the middle of it. */
const RATE_PER_SECOND = 400;
/** How late the fake answers every send: about 40 requests in flight at that rate. */
const PROVIDER_LATENCY_MS = 100;
const WORKERS = 2;
const DELIVERY_CONCURRENCY = 50;
/** MAX_UNWRITTEN_OUTCOMES in apps/worker/src/delivery/outcome-recorder.ts. */
const MAX_UNWRITTEN_OUTCOMES = 500;
/**
 * What a worker that dies mid-send may send again (docs/architecture.md, "At-least-once
 * window"): its requests in flight plus its outcomes not yet written. None of the faults here
 * kills a worker, so each is also held to a tighter bound of its own.
 */
const CRASH_WINDOW = WORKERS * (DELIVERY_CONCURRENCY + MAX_UNWRITTEN_OUTCOMES);
/**
 * While Redis or Postgres is away no worker can take a grant or claim a delivery: only the
 * requests granted and claimed before it may still go out (at most the in-flight limit).
 */
const SENDABLE_WHILE_AWAY = WORKERS * DELIVERY_CONCURRENCY;
/** The fault comes once this many messages went out: about a quarter of the run. */
const FAULT_AFTER_SENDS = 750;
const OUTAGE_MS = 5_000;
/** The broadcast the external system keeps calling meanwhile: a few contacts, a short delay. */
const SIDE_CONTACTS = 3;
const SIDE_DELAY_MS = 300;
const CALL_EVERY_MS = 150;

const WORKER_ENV = {
  DELIVERY_CONCURRENCY: String(DELIVERY_CONCURRENCY),
  DELIVERY_CHUNK_SIZE: '250',
  // Longer than the Postgres outage plus the outcome writer's retry after it, as the default
  // (60 s) is longer than a Postgres restart: a claim taken before the outage still holds its
  // rows when their outcomes are written after it.
  DELIVERY_LEASE_MS: '10000',
  DELIVERY_STALLED_AFTER_MS: '5000',
  DISPATCH_STUCK_AFTER_MS: '5000',
  // Room to finish the sends in flight on SIGTERM however busy the machine.
  SHUTDOWN_TIMEOUT_MS: '15000',
};

interface HeraldEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  QUEUE_PREFIX: string;
}

interface Herald {
  ingressUrl: string;
  processes: StartedProcess[];
}

/** One hook call as the caller saw it: the status, or no answer at all (connection refused). */
interface CallAnswer {
  startedAt: number;
  ms: number;
  status: number | 'no answer';
  triggerId: string | null;
}

interface FaultReport {
  runId: string;
  mainBotId: string;
  sideBroadcastId: string;
  /** Messages the provider had received when the fault began, and when it was over. */
  sendsAtFault: number;
  sendsAfterFault: number;
  faultMs: number;
  /** From the end of the fault to the run completed. */
  finishedMsAfterFault: number;
  calls: CallAnswer[];
  /** Calls made while the fault lasted. */
  callsDuringFault: CallAnswer[];
  herald: Herald;
}

describe('faults in the middle of a delivery: Redis restarted, Postgres restarted, every process stopped', () => {
  const kit = useDeliveryKit();
  const { database } = kit;
  const ingresses: StartedProcess[] = [];
  afterEach(async () => {
    await Promise.all(ingresses.splice(0).map((p) => p.stop('SIGKILL')));
  });

  async function startHerald(env: HeraldEnv): Promise<Herald> {
    const [ingress, ...workers] = await Promise.all([
      startReadyProcess('ingress', { ...env, LOG_LEVEL: 'warn' }),
      ...Array.from({ length: WORKERS }, () => kit.startWorker(env.QUEUE_PREFIX, { ...WORKER_ENV, DATABASE_URL: env.DATABASE_URL }, env.REDIS_URL)),
    ]);
    const { process: ingressProcess, port } = ingress;
    ingresses.push(ingressProcess);
    return { ingressUrl: `http://127.0.0.1:${port}`, processes: [ingressProcess, ...workers] };
  }

  /** An external system calling a hook every CALL_EVERY_MS, one call at a time, until stopped. */
  function keepCalling(url: () => string) {
    const answers: CallAnswer[] = [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const startedAt = Date.now();
        const answer: CallAnswer = { startedAt, ms: 0, status: 'no answer', triggerId: null };
        try {
          const response = await fetch(url(), { method: 'POST', signal: AbortSignal.timeout(10_000) });
          answer.status = response.status;
          answer.triggerId = ((await response.json()) as { trigger_id?: string }).trigger_id ?? null;
        } catch {
          // Refused or reset (the ingress is stopped): a caller would retry later.
        }
        answer.ms = Date.now() - startedAt;
        answers.push(answer);
        await sleep(CALL_EVERY_MS);
      }
    })();
    return {
      async stop(): Promise<CallAnswer[]> {
        stopped = true;
        await loop;
        return answers;
      },
    };
  }

  /**
   * 1. A bot with CONTACTS custom contacts on a throttled connection, and a side bot whose
   *    broadcast the caller keeps calling; Herald started.
   * 2. The run launched by a hook call, as an external system would.
   * 3. Once FAULT_AFTER_SENDS messages went out, `fault` (which returns Herald as it left it).
   * 4. The calls go on for 2 s after it; then the run and every accepted call's run must finish.
   */
  async function deliverThrough(env: HeraldEnv, fault: (herald: Herald) => Promise<Herald>): Promise<FaultReport> {
    const { db } = database.current;
    kit.fake.setDefault('custom', fakeAnswers.slow(PROVIDER_LATENCY_MS));
    const main = await kit.audience('custom', CONTACTS, RATE_PER_SECOND);
    const side = await kit.audience('custom', SIDE_CONTACTS, null);
    await db.updateTable('broadcasts').set({ delay_ms: SIDE_DELAY_MS }).where('id', '=', side.broadcast.id).execute();
    let herald = await startHerald(env);

    const launched = await fetch(`${herald.ingressUrl}/hooks/${main.broadcast.hook_token}`, { method: 'POST' });
    expect(launched.status).toBe(200);
    const { trigger_id: triggerId } = (await launched.json()) as { trigger_id: string };
    const runId = await waitFor(
      async () => (await db.selectFrom('triggers').select('run_id').where('id', '=', triggerId).executeTakeFirst())?.run_id ?? undefined,
      {
        timeoutMs: 20_000,
        what: 'the run',
      },
    );

    const caller = keepCalling(() => `${herald.ingressUrl}/hooks/${side.broadcast.hook_token}`);
    let calls: CallAnswer[] = [];
    let sendsAtFault = 0;
    let sendsAfterFault = 0;
    let faultStartedAt = 0;
    let faultMs = 0;
    try {
      await waitFor(() => kit.fake.requestsOf('custom').length >= FAULT_AFTER_SENDS || undefined, {
        timeoutMs: 30_000,
        intervalMs: 20,
        what: `${FAULT_AFTER_SENDS} sends`,
      });
      sendsAtFault = kit.fake.requestsOf('custom').length;
      faultStartedAt = Date.now();
      herald = await fault(herald);
      faultMs = Date.now() - faultStartedAt;
      sendsAfterFault = kit.fake.requestsOf('custom').length;
      await sleep(2_000);
    } finally {
      calls = await caller.stop();
    }
    // Mid-run: the fault came early, and the run still had messages to send after it.
    expect(sendsAtFault).toBeLessThan(CONTACTS / 2);
    expect(sendsAfterFault).toBeLessThan(CONTACTS);

    const logsOnTimeout = (error: unknown) => {
      console.log(
        herald.processes
          .map((p) => p.output())
          .join('\n')
          .slice(-20_000),
      );
      throw error;
    };
    await kit.finished(runId, 90_000).catch(logsOnTimeout);
    const finishedMsAfterFault = Date.now() - faultStartedAt - faultMs;
    // Every call answered 200 was committed, so it is in a run, and that run completes.
    const accepted = calls.filter((c) => c.status === 200).map((c) => c.triggerId!);
    await waitFor(
      async () => {
        if (accepted.length === 0) return true;
        const { rows } = await sql<{ done: number }>`
          SELECT count(*)::int AS done FROM triggers t JOIN runs r ON r.id = t.run_id
          WHERE t.id = ANY(${accepted}::uuid[]) AND t.status = 'dispatched' AND r.status = 'completed'`.execute(db);
        return rows[0]!.done === accepted.length || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "every accepted call's run to complete" },
    ).catch(logsOnTimeout);

    const callsDuringFault = calls.filter((c) => c.startedAt >= faultStartedAt && c.startedAt <= faultStartedAt + faultMs);
    return {
      runId,
      mainBotId: main.bot.id,
      sideBroadcastId: side.broadcast.id,
      sendsAtFault,
      sendsAfterFault,
      faultMs,
      finishedMsAfterFault,
      calls,
      callsDuringFault,
      herald,
    };
  }

  /**
   * What every fault must leave: the run completed, one delivery per contact, all `sent`, the
   * provider reached for every contact; the side broadcast's deliveries all sent too. Returns
   * how many messages the provider got more than once (sum over contacts of received − 1).
   */
  async function expectNothingLost(report: FaultReport): Promise<number> {
    const { db } = database.current;
    const run = await findRun(db, report.runId);
    expect(run).toMatchObject({ status: 'completed', targeted: CONTACTS, sent: CONTACTS, failed: 0, skipped: 0 });
    expect(await kit.statusCounts(report.runId)).toEqual({ sent: CONTACTS });
    const { rows } = await sql<{ deliveries: number; contacts: number }>`
      SELECT count(*)::int AS deliveries, count(DISTINCT contact_id)::int AS contacts FROM deliveries WHERE run_id = ${report.runId}`.execute(db);
    expect(rows[0]).toEqual({ deliveries: CONTACTS, contacts: CONTACTS });

    // What the provider received, per contact of the run's bot.
    const perContact = new Map<string, number>();
    for (const request of kit.fake.requestsOf('custom')) {
      const body = request.json as { bot_id?: string; contact?: { user_id?: string } } | undefined;
      if (body?.bot_id !== report.mainBotId) continue;
      const userId = String(body.contact?.user_id);
      perContact.set(userId, (perContact.get(userId) ?? 0) + 1);
    }
    expect(perContact.size).toBe(CONTACTS);

    const { rows: side } = await sql<{ status: string; n: number }>`
      SELECT d.status, count(*)::int AS n FROM deliveries d JOIN runs r ON r.id = d.run_id
      WHERE r.broadcast_id = ${report.sideBroadcastId} GROUP BY d.status`.execute(db);
    expect(side.filter((s) => s.status !== 'sent')).toEqual([]);

    return [...perContact.values()].reduce((sum, n) => sum + n - 1, 0);
  }

  /** Messages the provider received in a span of time. */
  function sendsBetween({ from, until }: { from: number; until: number }): number {
    return kit.fake.requestsOf('custom').filter((r) => r.receivedAt >= from && r.receivedAt < until).length;
  }

  function summary(name: string, report: FaultReport, repeated: number): string {
    const count = (status: CallAnswer['status']) => report.calls.filter((c) => c.status === status).length;
    const during = report.callsDuringFault;
    const slowest = Math.max(0, ...during.filter((c) => c.status === 200).map((c) => c.ms));
    const statuses = [...new Set(report.calls.map((c) => c.status))].map((status) => `${String(status)}×${count(status)}`).join(', ');
    return (
      `${name}: fault at ${report.sendsAtFault}/${CONTACTS} sends, lasted ${report.faultMs} ms, ${report.sendsAfterFault} sends when over, ` +
      `run completed ${report.finishedMsAfterFault} ms later (${Math.round(((CONTACTS - report.sendsAfterFault) / RATE_PER_SECOND) * 1000)} ms at the rate); ` +
      `${repeated} sent twice (crash window ${CRASH_WINDOW}); hook calls ${statuses}; ` +
      `during the fault ${during.length} calls: ${during.filter((c) => c.status === 200).length} answered 200 (slowest ${slowest} ms)`
    );
  }

  it('(a) Redis killed and started again with its data: the run completes, nothing sent twice, every call accepted', async () => {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'herald-redis-aof-'));
    // Append-only, as docs/operations.md recommends: a restart reloads the queues, the
    // throttle's state and the marker, so no recovery pass is needed.
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir];
    const startRedis = () => spawn('redis-server', args, { stdio: 'ignore' });
    let server: ChildProcess = startRedis();
    const redisUrl = `redis://127.0.0.1:${port}`;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const away = { from: 0, until: 0 };
    let logsBefore: number[] = [];
    try {
      await waitFor(() => redis.status === 'ready', { timeoutMs: 10_000, what: 'the private Redis' });
      const prefix = testQueuePrefix();
      const report = await deliverThrough({ DATABASE_URL: database.current.url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix }, async (herald) => {
        logsBefore = herald.processes.map((p) => p.output().length);
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGKILL');
        await exited;
        away.from = Date.now();
        await sleep(OUTAGE_MS);
        away.until = Date.now();
        server = startRedis();
        await waitFor(async () => ((await redis.ping().catch(() => null)) === 'PONG' ? true : undefined), { timeoutMs: 10_000, what: 'Redis back' });
        // It came back with its data: the marker that tells the reconciler its queues are whole.
        expect(await redis.exists(`${prefix}:herald:intact`)).toBe(1);
        return herald;
      });
      const repeated = await expectNothingLost(report);
      console.log(`${summary('Redis restarted with its data', report, repeated)}; ${sendsBetween(away)} sends while it was down`);
      // A claim in Postgres is what lets a delivery out, and Postgres stayed: a chunk re-run after
      // the outage sends nothing twice (docs/architecture.md, "Claimed before sent").
      expect(repeated).toBe(0);
      // Redis down does not take the hook with it: every call was answered 200.
      expect(report.calls.filter((c) => c.status !== 200)).toEqual([]);
      expect(report.callsDuringFault.length).toBeGreaterThan(0);
      // Delivery paused while Redis was away: the throttle takes no grant without it.
      expect(sendsBetween(away)).toBeLessThanOrEqual(SENDABLE_WHILE_AWAY);
      report.herald.processes.forEach((p, i) => {
        expect(p.child.exitCode).toBeNull();
        // The data came back, so no process saw its queues as lost.
        expect(p.output().slice(logsBefore[i])).not.toContain('redis had lost its data');
      });
    } finally {
      redis.disconnect();
      server.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('(b) Postgres away for 5 s under every process: the run completes, nothing sent twice, calls meanwhile answered 503', async () => {
    const postgres = await proxyInFrontOf(database.current.url);
    const away = { from: 0, until: 0 };
    try {
      const report = await deliverThrough({ DATABASE_URL: postgres.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: testQueuePrefix() }, async (herald) => {
        postgres.proxy.cut(); // every connection of every process dropped, new ones refused
        away.from = Date.now();
        await sleep(OUTAGE_MS);
        away.until = Date.now();
        postgres.proxy.restore();
        return herald;
      });
      const repeated = await expectNothingLost(report);
      console.log(`${summary('Postgres restarted', report, repeated)}; ${sendsBetween(away)} sends while it was away`);
      // Delivery paused while Postgres was away: nothing can be claimed without it.
      expect(sendsBetween(away)).toBeLessThanOrEqual(SENDABLE_WHILE_AWAY);
      // The cut caught sends in flight: their outcomes waited for Postgres and were written then.
      const retriedWrites = report.herald.processes.filter((p) => p.output().includes('writing delivery outcomes failed, retrying')).length;
      expect(retriedWrites).toBeGreaterThan(0);
      expect(repeated).toBeLessThanOrEqual(CRASH_WINDOW);
      // The outage was shorter than the lease and than the outcome writer's 30 s of retries:
      // every outcome was written by the claim that made it once Postgres was back.
      expect(repeated).toBe(0);
      // A caller sees 503 (with Retry-After) while Postgres is away, 200 before and after.
      expect(report.calls.filter((c) => c.status !== 200 && c.status !== 503)).toEqual([]);
      expect(report.callsDuringFault.filter((c) => c.status === 503).length).toBeGreaterThan(0);
      expect(report.calls.filter((c) => c.status === 200 && c.startedAt > report.callsDuringFault.at(-1)!.startedAt).length).toBeGreaterThan(0);
      for (const p of report.herald.processes) expect(p.child.exitCode).toBeNull();
    } finally {
      await postgres.proxy.close();
    }
  }, 180_000);

  it('(c) every process stopped with SIGTERM and started again: each exits 0, the run completes, nothing sent twice', async () => {
    const env = { DATABASE_URL: database.current.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: testQueuePrefix() };
    const exits: { code: number | null; signal: NodeJS.Signals | null; elapsedMs: number }[] = [];
    let leftSending = -1;
    const report = await deliverThrough(env, async (herald) => {
      exits.push(...(await Promise.all(herald.processes.map((p) => p.stop('SIGTERM')))));
      // Stopped: every claim was sent and its outcome written before the workers exited.
      const runs = await database.current.db.selectFrom('runs').select('id').where('status', '=', 'delivering').execute();
      leftSending = 0;
      for (const { id } of runs) leftSending += (await kit.statusCounts(id))['sending'] ?? 0;
      await sleep(2_000); // Herald is down a moment: calls meanwhile find no ingress
      return startHerald(env);
    });
    const repeated = await expectNothingLost(report);
    console.log(`${summary('every process SIGTERMed', report, repeated)}; stopped in ${exits.map((e) => e.elapsedMs).join('/')} ms`);
    expect(exits.map((e) => ({ code: e.code, signal: e.signal }))).toEqual(exits.map(() => ({ code: 0, signal: null })));
    expect(leftSending).toBe(0);
    // A graceful stop sends nothing twice (docs/operations.md, "Deploys and in-flight sends").
    expect(repeated).toBe(0);
    // While no ingress listens the caller gets no answer (connection refused); otherwise 200.
    expect(report.calls.filter((c) => c.status !== 200 && c.status !== 'no answer')).toEqual([]);
    expect(report.callsDuringFault.filter((c) => c.status === 'no answer').length).toBeGreaterThan(0);
  }, 180_000);
});
