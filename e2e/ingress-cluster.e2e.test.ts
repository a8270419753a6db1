import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { sql } from 'kysely';
import {
  createBotRow,
  createBroadcastRow,
  startProcess,
  startReadyProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  waitFor,
  type StartedProcess,
} from '@herald/testing';

/**
 * `INGRESS_PROCESSES=2`: one ingress on two cores (node:cluster). Calls spread over both
 * workers each leave their trigger; `/metrics` counts them all whichever worker answers; a
 * killed worker is replaced while the other keeps answering; SIGTERM stops them all cleanly;
 * a worker that cannot start stops the service instead of being forked in a loop.
 */

const CALLS = 200;

/** One call on a new connection, so the primary's round-robin spreads calls over the workers. */
function call(port: number, path: string, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (error) => reject(new Error(`${method} ${path}: ${error.message}`)));
    req.end();
  });
}

/** The pids of a process's live children. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function scheduledCount(metricsText: string): number {
  const line = metricsText.split('\n').find((l) => l.startsWith('herald_hook_calls_total{') && l.includes('outcome="scheduled"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('an ingress of two processes', () => {
  const database = useTestDatabase();
  const started: StartedProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')));
  });

  async function startIngress(env: Record<string, string> = {}) {
    const { process, port } = await startReadyProcess('ingress', {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: testQueuePrefix(),
      INGRESS_PROCESSES: '2',
      LOG_LEVEL: 'info',
      ...env,
    });
    started.push(process);
    return { process, port };
  }

  it('answers from both workers, counts every call in /metrics, replaces a killed worker and stops cleanly', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const { hook_token: hookToken } = await createBroadcastRow(db, bot.id, { delay_ms: 60_000 });
    const { process, port } = await startIngress();
    const pid = process.child.pid!;
    await waitFor(() => childrenOf(pid).length === 2 || undefined, { what: 'two workers' });

    const answers = await Promise.all(Array.from({ length: CALLS }, () => call(port, `/hooks/${hookToken}`)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(CALLS);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM triggers`.execute(db);
    expect(rows[0]!.n).toBe(CALLS);

    // New connections alternate between the workers: each scrape lands on one, and each one
    // reports the calls of both (a worker's own count would be about half).
    for (let scrape = 0; scrape < 4; scrape++) {
      const metrics = await call(port, '/metrics', 'GET');
      expect(metrics.status).toBe(200);
      expect(scheduledCount(metrics.body)).toBe(CALLS);
    }

    const [victim, survivor] = childrenOf(pid);
    globalThis.process.kill(victim!, 'SIGKILL');
    // A connection handed to the victim as it died is reset (as with any killed server); once
    // the primary knows, new ones go to the survivor while the replacement starts.
    await waitFor(() => process.output().includes('a process died; starting another') || undefined, { what: 'the primary to see the death' });
    const during = await Promise.all(Array.from({ length: 20 }, () => call(port, `/hooks/${hookToken}`)));
    expect(during.map((a) => a.status)).toEqual(Array(20).fill(200));
    await waitFor(
      () => {
        const now = childrenOf(pid);
        return (now.length === 2 && now.includes(survivor!) && !now.includes(victim!)) || undefined;
      },
      { timeoutMs: 15_000, what: 'a replacement worker' },
    );
    await waitFor(() => process.output().match(/"ingress listening"/g)?.length === 3 || undefined, { what: 'the replacement to listen' });

    const workers = childrenOf(pid);
    const result = await process.stop('SIGTERM');
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    for (const worker of workers) expect(() => globalThis.process.kill(worker, 0)).toThrow(); // gone
  });

  it('stops with exit 1 when its workers cannot start, instead of forking them again and again', async () => {
    // The port is taken, so every worker fails to listen.
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const process = startProcess('ingress', {
        DATABASE_URL: database.current.url,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        HOST: '127.0.0.1',
        INGRESS_PORT: String(port),
        INGRESS_PROCESSES: '2',
        LOG_LEVEL: 'info',
      });
      started.push(process);
      const result = await process.exited;
      expect(result.code).toBe(1);
      expect(process.output()).toContain('a process failed to start; stopping the others');
      expect(process.output().match(/failed to start"/g)?.length ?? 0).toBeLessThanOrEqual(2);
    } finally {
      blocker.close();
    }
  });
});
