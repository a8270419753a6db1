import { spawnSync } from 'node:child_process';
import { upsertContacts } from '@herald/db';
import {
  contactUpsert,
  createBotRow,
  createBroadcastRow,
  freePort,
  PORT_VARIABLE,
  startProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  waitFor,
  waitForHttp,
  type HeraldService,
  type StartedProcess,
} from '@herald/testing';

/**
 * The story `/metrics` tells, on the built processes: a hook call moves the ingress's request
 * and trigger counters; the run it makes moves the worker's dispatch, run and delivery series.
 * Every process's exposition passes `promtool check metrics` (Debian's prometheus package;
 * `.ci/run` installs it) but for prom-client's own default series, named by prom-client.
 */

/** One sample's value from a text exposition, or undefined when the series is absent. */
function sample(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * promtool's lint findings, less those about prom-client's default series (their names are
 * prom-client's, not ours to change).
 */
function promtoolFindings(exposition: string): string[] {
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  if (checked.error) throw new Error(`promtool is needed (Debian package prometheus): ${checked.error.message}`);
  const findings = `${checked.stdout}${checked.stderr}`.split('\n').filter((line) => line.trim() !== '');
  // prom-client names three gauges *_total (herald_nodejs_active_handles_total and the like).
  return findings.filter((line) => !/^herald_nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/.test(line));
}

describe('metrics on every process', () => {
  const database = useTestDatabase();
  const started: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop('SIGTERM')));
  });

  async function start(app: HeraldService, prefix: string): Promise<{ url: string; metrics: () => Promise<string> }> {
    const port = await freePort();
    const process = startProcess(app, {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      ADMIN_API_KEY: 'e2e-admin-key-0123456789abcdef',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      [PORT_VARIABLE[app]]: String(port),
    });
    started.push(process);
    await waitForHttp(process, port, { path: '/readyz' });
    const url = `http://127.0.0.1:${port}`;
    return { url, metrics: async () => (await fetch(`${url}/metrics`)).text() };
  }

  it('moves with hook calls and the run they make, and passes promtool', async () => {
    const { db } = database.current;
    const prefix = testQueuePrefix();
    const ingress = await start('ingress', prefix);
    const worker = await start('worker', prefix);
    const admin = await start('admin', prefix);
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 200 });
    await upsertContacts(db, bot.id, [contactUpsert('TelegramChannel', '1'), contactUpsert('TelegramChannel', '2')]);

    const call = async (path: string, body: string) => (await fetch(`${ingress.url}${path}`, { method: 'POST', body })).status;
    const statuses = [
      await call(`/hooks/${broadcast.hook_token}`, '{}'),
      await call(`/hooks/${broadcast.hook_token}`, '{}'),
      await call(`/hooks/${broadcast.hook_token}`, '{"audience_filter":"typo"}'),
      await call(`/hooks/${'x'.repeat(43)}`, '{}'),
    ];
    expect(statuses).toEqual([200, 200, 400, 404]);

    const ingressMetrics = await ingress.metrics();
    const requests = (status: string) => sample(ingressMetrics, 'herald_hook_request_duration_seconds_count', { status });
    expect([requests('200'), requests('400'), requests('404')]).toEqual([2, 1, 1]);
    expect(sample(ingressMetrics, 'herald_triggers_accepted_total', { service: 'ingress' })).toBe(2);
    expect(sample(ingressMetrics, 'herald_hook_calls_total', { outcome: 'invalid_payload' })).toBe(1);

    // The two calls make one run; with no Telegram connection both deliveries are skipped.
    await waitFor(
      async () => {
        const run = await db.selectFrom('runs').select('status').where('broadcast_id', '=', broadcast.id).executeTakeFirst();
        return run?.status === 'completed' || undefined;
      },
      { timeoutMs: 20_000, what: 'the run to complete' },
    );
    const workerMetrics = await worker.metrics();
    // The run is over: none in progress, so no idle time either.
    expect(sample(workerMetrics, 'herald_runs_in_progress', { status: 'dispatching' })).toBe(0);
    expect(sample(workerMetrics, 'herald_runs_in_progress', { status: 'delivering' })).toBe(0);
    expect(sample(workerMetrics, 'herald_run_idle_seconds', { status: 'delivering' })).toBe(0);
    expect(sample(workerMetrics, 'herald_dispatch_duration_seconds_count', { outcome: 'dispatched' })).toBe(1);
    expect(sample(workerMetrics, 'herald_deliveries_total', { channel: 'TelegramChannel', outcome: 'skipped', reason: 'no_channel_connection' })).toBe(2);
    expect(sample(workerMetrics, 'herald_queue_jobs', { queue: 'dispatch', state: 'waiting' })).toBe(0);

    for (const exposition of [ingressMetrics, workerMetrics, await admin.metrics()]) expect(promtoolFindings(exposition)).toEqual([]);
  }, 60_000);
});
