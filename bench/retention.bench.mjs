// pnpm bench:retention — what a retention pass (RETENTION_DAYS) costs the hook, and how fast it
// deletes. One real ingress and one real worker (maintenance queue only) on a scratch database.
//
// 0. seed, inside Postgres (INSERT … SELECT over generate_series): BENCH_DELIVERIES (10,000,000)
//    sent deliveries over BENCH_RUNS (10) runs of one broadcast, one per contact; all but
//    BENCH_RECENT_RUNS (2) of the runs finished 60+ days ago, the others yesterday. Each run has
//    100 triggers; one old and one recent run have a provider message id per delivery; 100,000
//    triggers cancelled 60 days ago in no run. Then VACUUM ANALYZE, as a live table would be;
// 1. the hook's latency at a fixed BENCH_RATE (1,000 calls/s) for BENCH_SECONDS (20), the
//    worker running with retention off;
// 2. the same, while the worker's first retention pass (RETENTION_DAYS=30, the defaults for
//    batch size and pause unless RETENTION_BATCH_SIZE / RETENTION_BATCH_PAUSE_MS are set) runs;
// 3. that pass to its end: its duration and rows/s, read from the worker's /metrics.
// Then checks that exactly the old rows went: the recent runs, their deliveries and triggers,
// the hook's own triggers and everyone's contacts are all still there.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import testing from '../packages/testing/dist/index.js';
import {
  adminQuery,
  cpuSecondsMatching,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  insertBroadcast,
  migrate,
  REDIS_URL,
  runAutocannon,
  startProcess,
  summarise,
  UNREACHED_HOOK_LIMITS,
} from './support.mjs';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 10_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const RECENT_RUNS = Number(process.env.BENCH_RECENT_RUNS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const TRIGGERS_PER_RUN = 100;
const UNATTACHED_TRIGGERS = 100_000;
const CONNECTIONS = 32;
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
const BODY = JSON.stringify(testing.SPEC_EXAMPLE_HOOK_BODY);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n) => Math.round(n).toLocaleString('en-US');

async function timed(what, fn) {
  const started = Date.now();
  const result = await fn();
  console.error(`seed: ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/** The rows of step 0. Returns the hooked broadcast's token and what must be left afterwards. */
async function seed(client) {
  const perRun = Math.ceil(DELIVERIES / RUNS);
  const { botId, broadcastId, token } = await insertBroadcast(client);
  // Foreign keys unchecked while seeding (every row written here points at rows written here).
  await client.query('SET session_replication_role = replica');
  await timed(`${fmt(perRun)} contacts`, () =>
    client.query(`INSERT INTO contacts (bot_id, bot_channel, user_id) SELECT $1, 'TelegramChannel', 'c' || i FROM generate_series(1, $2) AS i`, [
      botId,
      perRun,
    ]),
  );
  const connectionId = '00000000-0000-4000-8000-0000000be4c1';
  for (let i = 0; i < RUNS; i++) {
    const daysAgo = i < RUNS - RECENT_RUNS ? 60 + i : 1;
    const {
      rows: [run],
    } = await client.query(
      `INSERT INTO runs (broadcast_id, status, targeted, sent, created_at, delivering_at, finished_at, updated_at)
       VALUES ($1, 'completed', $2, $2, now() - $3 * interval '1 day' - interval '1 hour', now() - $3 * interval '1 day' - interval '50 minutes',
               now() - $3 * interval '1 day', now() - $3 * interval '1 day')
       RETURNING id, created_at`,
      [broadcastId, perRun, daysAgo],
    );
    await timed(`run ${i + 1}/${RUNS} (${daysAgo} days ago): ${fmt(perRun)} deliveries`, () =>
      client.query(
        `INSERT INTO deliveries (run_id, contact_id, channel, text, status, attempts, provider_message_id, created_at, updated_at, sent_at)
         SELECT $1, c.id, 'TelegramChannel', 'Hello c' || c.id || ', your order has shipped', 'sent', 1, 'tg-' || c.id,
                $2::timestamptz, $2::timestamptz + interval '10 minutes', $2::timestamptz + interval '10 minutes'
         FROM contacts c WHERE c.bot_id = $3`,
        [run.id, run.created_at, botId],
      ),
    );
    await client.query(
      `INSERT INTO triggers (broadcast_id, received_at, method, request, status, run_id, status_changed_at)
       SELECT $1, $2::timestamptz - interval '10 seconds', 'GET', '{"mode":"audience","audience":null,"set_variables":{},"payload":null}', 'dispatched', $3, $2
       FROM generate_series(1, $4)`,
      [broadcastId, run.created_at, run.id, TRIGGERS_PER_RUN],
    );
    // Provider message ids for the first old run and the first recent one.
    if (i === 0 || i === RUNS - RECENT_RUNS) {
      await timed(`provider message ids of run ${i + 1}`, () =>
        client.query(
          `INSERT INTO provider_messages (connection_id, provider_message_id, delivery_id, created_at)
           SELECT $1, provider_message_id || '-' || id, id, sent_at FROM deliveries WHERE run_id = $2`,
          [connectionId, run.id],
        ),
      );
    }
  }
  await client.query(
    `INSERT INTO triggers (broadcast_id, received_at, method, request, status, status_changed_at)
     SELECT $1, now() - interval '61 days', 'GET', '{"mode":"audience","audience":null,"set_variables":{},"payload":null}', 'cancelled', now() - interval '60 days'
     FROM generate_series(1, $2)`,
    [broadcastId, UNATTACHED_TRIGGERS],
  );
  await client.query('RESET session_replication_role');
  await timed('VACUUM ANALYZE', () => client.query('VACUUM (ANALYZE) contacts, runs, deliveries, triggers, provider_messages'));
  const oldRuns = RUNS - RECENT_RUNS;
  return {
    token,
    broadcastId,
    kept: { runs: RECENT_RUNS, deliveries: perRun * RECENT_RUNS, providerMessages: perRun, contacts: perRun },
    purged: {
      deliveries: perRun * oldRuns,
      provider_messages: perRun,
      triggers: TRIGGERS_PER_RUN * oldRuns + UNATTACHED_TRIGGERS,
      runs: oldRuns,
    },
  };
}

/** The worker's retention series: rows deleted per table, and the passes ended so far. */
async function retentionMetrics(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (pattern) => {
    const line = text.split('\n').find((l) => pattern.test(l));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const deleted = Object.fromEntries(
    ['deliveries', 'provider_messages', 'triggers', 'runs'].map((table) => [
      table,
      value(new RegExp(`^herald_retention_deleted_total\\{[^}]*table="${table}"`)),
    ]),
  );
  return {
    deleted,
    total: Object.values(deleted).reduce((a, b) => a + b, 0),
    passes: value(/^herald_retention_pass_duration_seconds_count\{[^}]*outcome="purged"/),
    seconds: value(/^herald_retention_pass_duration_seconds_sum\{[^}]*outcome="purged"/),
  };
}

async function hookLoad(ingressUrl, token) {
  return summarise(
    await runAutocannon({
      url: `${ingressUrl}/hooks/${token}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
      connections: CONNECTIONS,
      duration: SECONDS,
      overallRate: RATE,
    }),
  );
}

async function startWorker(common, env) {
  const port = await freePort();
  // Maintenance only: the hook's calls stay pending (no dispatch), and the reconciler is not to
  // warn every 10 s that they have waited past DISPATCH_MAX_POSTPONE_MS while a long pass runs.
  const worker = await startProcess(
    'apps/worker/dist/main.js',
    { ...common, WORKER_PORT: String(port), WORKER_QUEUES: 'maintenance', DISPATCH_MAX_POSTPONE_MS: '86400000', ...env },
    port,
  );
  return { ...worker, port };
}

async function main() {
  const url = databaseUrl(DB_NAME);
  if ((await migrate(url)) !== 0) throw new Error('migrations failed');
  const started = [];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const seeded = await seed(client);
    const {
      rows: [size],
    } = await client.query(`SELECT pg_total_relation_size('deliveries') AS bytes`);

    const common = { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX, HOST: '127.0.0.1', ...UNREACHED_HOOK_LIMITS };
    const ingressPort = await freePort();
    started.push(await startProcess('apps/ingress/dist/main.js', { ...common, INGRESS_PORT: String(ingressPort) }, ingressPort));
    const ingressUrl = `http://127.0.0.1:${ingressPort}`;
    await runAutocannon({
      url: `${ingressUrl}/hooks/${seeded.token}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
      connections: CONNECTIONS,
      duration: 3,
    }); // warm-up: JIT, pools, caches

    // 1. Retention off.
    const idle = await startWorker(common, { RETENTION_DAYS: '0' });
    const quiet = await hookLoad(ingressUrl, seeded.token);
    await idle.stop();

    // 2. The first pass starts as the worker schedules it; the load starts once it deletes.
    const retentionEnv = Object.fromEntries(['RETENTION_BATCH_SIZE', 'RETENTION_BATCH_PAUSE_MS'].filter((k) => process.env[k]).map((k) => [k, process.env[k]]));
    const cpuBefore = cpuSecondsMatching(DB_NAME);
    const worker = await startWorker(common, { RETENTION_DAYS: '30', ...retentionEnv });
    started.push(worker);
    while ((await retentionMetrics(worker.port)).total === 0) await sleep(100);
    const atLoadStart = await retentionMetrics(worker.port);
    const loaded = await hookLoad(ingressUrl, seeded.token);
    const atLoadEnd = await retentionMetrics(worker.port);

    // 3. The pass to its end.
    let done;
    for (const deadline = Date.now() + 60 * 60_000; ;) {
      done = await retentionMetrics(worker.port);
      if (done.passes >= 1) break;
      if (Date.now() > deadline) throw new Error('the retention pass did not end within an hour');
      await sleep(250);
    }
    const postgresCpu = cpuSecondsMatching(DB_NAME) - cpuBefore;

    const {
      rows: [left],
    } = await client.query(
      `SELECT (SELECT count(*) FROM runs)::int AS runs, (SELECT count(*) FROM deliveries)::int AS deliveries,
              (SELECT count(*) FROM provider_messages)::int AS provider_messages, (SELECT count(*) FROM contacts)::int AS contacts,
              (SELECT count(*) FROM triggers WHERE run_id IS NOT NULL)::int AS run_triggers,
              (SELECT count(*) FROM triggers WHERE run_id IS NULL AND status = 'cancelled')::int AS cancelled_triggers,
              (SELECT count(*) FROM triggers WHERE status = 'pending')::int AS hook_triggers`,
    );

    const row = (name, r) => `| ${name} | ${fmt(r.ok2xx / SECONDS)} | ${r.p50} | ${r.p90} | ${r.p99} | ${r.max} | ${r.non2xx + r.errors + r.timeouts} |`;
    console.log(
      `\n| bench:retention: hook at ${fmt(RATE)} calls/s offered, ${SECONDS} s, ${CONNECTIONS} connections | answered/s | p50 ms | p90 ms | p99 ms | max ms | errors |`,
    );
    console.log('|---|---|---|---|---|---|---|');
    console.log(row('retention off', quiet));
    console.log(row('during the retention pass', loaded));
    const underLoad = atLoadEnd.total - atLoadStart.total;
    console.log(
      `\npass: ${fmt(done.total)} rows (deliveries ${fmt(done.deleted.deliveries)}, provider_messages ${fmt(done.deleted.provider_messages)}, ` +
        `triggers ${fmt(done.deleted.triggers)}, runs ${fmt(done.deleted.runs)}) in ${done.seconds.toFixed(1)} s = **${fmt(done.total / done.seconds)} rows/s**; ` +
        `${fmt(underLoad / SECONDS)} rows/s during the hook load; Postgres CPU on this database meanwhile (the hook's included) ${postgresCpu.toFixed(1)} s; ` +
        `deliveries table before: ${(Number(size.bytes) / 2 ** 30).toFixed(1)} GiB with its indexes; ` +
        `settings: ${JSON.stringify({ RETENTION_DAYS: 30, ...retentionEnv })}`,
    );

    const problems = [];
    for (const [table, n] of Object.entries(seeded.purged)) {
      if (done.deleted[table] !== n) problems.push(`${table}: ${done.deleted[table]} deleted, ${n} expected`);
    }
    const { kept } = seeded;
    if (left.runs !== kept.runs || left.deliveries !== kept.deliveries || left.provider_messages !== kept.providerMessages || left.contacts !== kept.contacts) {
      problems.push(`left: ${JSON.stringify(left)}, expected ${JSON.stringify(kept)}`);
    }
    if (left.run_triggers !== TRIGGERS_PER_RUN * RECENT_RUNS || left.cancelled_triggers !== 0) problems.push(`triggers left: ${JSON.stringify(left)}`);
    if (left.hook_triggers < quiet.ok2xx + loaded.ok2xx)
      problems.push(`${left.hook_triggers} hook triggers left for ${quiet.ok2xx + loaded.ok2xx} calls answered 200`);
    if (quiet.non2xx || loaded.non2xx) problems.push('the hook answered something else than 200');
    if (problems.length) {
      console.error(`\nPROBLEMS:\n${problems.join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    await client.end();
    for (const child of started.reverse()) await child.stop();
    await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
    await deleteRedisPrefix(PREFIX);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
