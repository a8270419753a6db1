// pnpm bench:triggers — does the dispatch keep pace with the hook? One real ingress and one
// real worker process (dispatch and maintenance queues: deliveries are handed off, not sent).
//
// 0. a backlog: BENCH_TRIGGERS (default 100,000) per-user calls recorded as the ingress records
//    them, then one dispatch: its time, triggers/s and the worker's peak RSS (floor: ≥ 10,000/s,
//    ≤ 300 MB), every contact holding its own call's value;
// 1. per-user: autocannon floods one broadcast for BENCH_SECONDS (default 10) with one call per
//    end user — `targets` for one new contact, with one variable of its own;
// 2. plain: autocannon floods 20 broadcasts (100 contacts each) with plain GET calls.
// For each: accepted/s (200s over the flood), then, once every trigger is applied, applied/s
// (triggers over the time from the first run's start to the last trigger marked dispatched) and
// their ratio: ≥ 1 means the dispatch keeps pace. Checked on the way: every 200 left one
// trigger, every trigger ended `dispatched`, every per-user contact holds its own call's value.
// The timers' delay is 1 s, so a dispatch starts one second after its broadcast's last call.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import queue from '../packages/queue/dist/index.js';
import {
  adminQuery,
  cpuSeconds,
  cpuSecondsMatching,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  insertBroadcast,
  migrate,
  peakRssMb,
  REDIS_URL,
  runAutocannon,
  startProcess,
  summarise,
  UNREACHED_HOOK_LIMITS,
} from './support.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BACKLOG = Number(process.env.BENCH_TRIGGERS ?? 100_000);
const FLOOR = { perSecond: 10_000, rssMb: 300 };
const CONNECTIONS = 64;
const PLAIN_BROADCASTS = 20;
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A broadcast (timer delay 1 s) whose bot has `contacts` Telegram contacts. */
async function seedBroadcast(client, contacts) {
  const { botId, broadcastId, token } = await insertBroadcast(client, { delayMs: 1000 });
  if (contacts > 0) {
    await client.query(`INSERT INTO contacts (bot_id, bot_channel, user_id) SELECT $1, 'TelegramChannel', 'c' || i FROM generate_series(1, $2) AS i`, [
      botId,
      contacts,
    ]);
  }
  return { id: broadcastId, botId, token };
}

/** Waits until no trigger of `broadcastIds` is pending and no run of theirs is dispatching. */
async function waitApplied(client, broadcastIds) {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const {
      rows: [left],
    } = await client.query(
      `SELECT (SELECT count(*) FROM triggers WHERE broadcast_id = ANY($1) AND status = 'pending')::int AS pending,
              (SELECT count(*) FROM runs WHERE broadcast_id = ANY($1) AND status = 'dispatching')::int AS dispatching`,
      [broadcastIds],
    );
    if (left.pending === 0 && left.dispatching === 0) return;
    if (Date.now() > deadline) throw new Error(`triggers still pending after 15 min: ${JSON.stringify(left)}`);
    await sleep(200);
  }
}

/** Triggers of the broadcasts by status, and the time from the first run's start to the last trigger applied. */
async function appliedStats(client, broadcastIds) {
  const {
    rows: [stats],
  } = await client.query(
    `SELECT count(*) FILTER (WHERE t.status = 'dispatched')::int AS dispatched,
            count(*) FILTER (WHERE t.status <> 'dispatched')::int AS other,
            extract(epoch FROM max(t.status_changed_at) - min(r.created_at)) AS seconds,
            count(DISTINCT r.id)::int AS runs
     FROM triggers t LEFT JOIN runs r ON r.id = t.run_id WHERE t.broadcast_id = ANY($1)`,
    [broadcastIds],
  );
  return { ...stats, seconds: Number(stats.seconds) };
}

async function flood(options) {
  return summarise(await runAutocannon({ connections: CONNECTIONS, duration: SECONDS, ...options }));
}

async function perUser(client, ingressUrl) {
  const broadcast = await seedBroadcast(client, 0);
  let n = 0;
  const result = await flood({
    url: `${ingressUrl}/hooks/${broadcast.token}`,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // Each call for a contact of its own, as an order-shipped or sign-up hook calls.
        setupRequest: (request) => {
          n++;
          return { ...request, body: JSON.stringify({ targets: [{ user_id: `u${n}`, bot_channel: 'telegram', variables: { order: `o${n}` } }] }) };
        },
      },
    ],
  });
  await waitApplied(client, [broadcast.id]);
  const applied = await appliedStats(client, [broadcast.id]);
  const {
    rows: [check],
  } = await client.query(
    `SELECT count(*)::int AS contacts, count(*) FILTER (WHERE variables->>'order' <> 'o' || substr(user_id, 2))::int AS wrong
     FROM contacts WHERE bot_id = $1`,
    [broadcast.botId],
  );
  const {
    rows: [deliveries],
  } = await client.query('SELECT count(*)::int AS n FROM deliveries d JOIN runs r ON r.id = d.run_id WHERE r.broadcast_id = $1', [broadcast.id]);
  return { result, applied, check: { ...check, deliveries: deliveries.n } };
}

/** 0: BACKLOG one-target triggers in Postgres, then their dispatch, timed from the timer's arming to the run leaving `dispatching`. */
async function backlog(client, worker) {
  const broadcast = await seedBroadcast(client, 0);
  const request = {
    mode: 'targets',
    set_variables: {},
    payload: null,
    targets: [{ user_id: 'X', user_phone_number: null, bot_channel: 'TelegramChannel', variables: { order: 'X' } }],
  };
  await client.query(
    `INSERT INTO triggers (broadcast_id, method, request)
     SELECT $1, 'POST', replace($2, '"X"', '"b' || i || '"')::jsonb FROM generate_series(1, $3) AS i`,
    [broadcast.id, JSON.stringify(request), BACKLOG],
  );
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const producer = new queue.JobProducer(redis, PREFIX);
  const cpuBefore = { worker: cpuSeconds(worker.child.pid), postgres: cpuSecondsMatching(DB_NAME) };
  const armedAt = Date.now();
  try {
    await producer.armTimer('broadcast.dispatch', { broadcastId: broadcast.id }, 0);
    await waitApplied(client, [broadcast.id]);
  } finally {
    await producer.close();
    redis.disconnect();
  }
  const seconds = (Date.now() - armedAt) / 1000;
  // Busy seconds of the worker and of Postgres: which one the dispatch waits for.
  const cpu = { worker: cpuSeconds(worker.child.pid) - cpuBefore.worker, postgres: cpuSecondsMatching(DB_NAME) - cpuBefore.postgres };
  const {
    rows: [check],
  } = await client.query(
    `SELECT (SELECT count(*) FROM deliveries d JOIN runs r ON r.id = d.run_id WHERE r.broadcast_id = $1)::int AS deliveries,
            (SELECT count(*) FROM triggers WHERE broadcast_id = $1 AND status = 'dispatched')::int AS dispatched,
            (SELECT count(*) FROM contacts WHERE bot_id = $2 AND variables->>'order' = user_id)::int AS right`,
    [broadcast.id, broadcast.botId],
  );
  return { seconds, perSecond: BACKLOG / seconds, rssMb: peakRssMb(worker.child.pid), cpu, ...check };
}

async function plain(client, ingressUrl) {
  const broadcasts = [];
  for (let i = 0; i < PLAIN_BROADCASTS; i++) broadcasts.push(await seedBroadcast(client, 100));
  let n = 0;
  const result = await flood({
    url: ingressUrl,
    requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/hooks/${broadcasts[n++ % broadcasts.length].token}` }) }],
  });
  const ids = broadcasts.map((b) => b.id);
  await waitApplied(client, ids);
  return { result, applied: await appliedStats(client, ids) };
}

function report(name, { result, applied }) {
  const acceptedPerSecond = result.ok2xx / SECONDS;
  const appliedPerSecond = applied.dispatched / applied.seconds;
  console.log(
    `| ${name} | ${Math.round(acceptedPerSecond).toLocaleString('en-US')} | ${Math.round(appliedPerSecond).toLocaleString('en-US')} | ` +
      `${(appliedPerSecond / acceptedPerSecond).toFixed(2)} | ${applied.dispatched.toLocaleString('en-US')} in ${applied.runs} run(s), ${applied.seconds.toFixed(1)} s |`,
  );
  const problems = [];
  if (result.non2xx || result.errors) problems.push(`${name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  // autocannon counts the answers within the flood; the calls in flight when it ends (one per
  // connection at most) are answered and recorded too.
  if (applied.other !== 0 || applied.dispatched < result.ok2xx || applied.dispatched > result.ok2xx + CONNECTIONS) {
    problems.push(`${name}: ${result.ok2xx} calls accepted but ${applied.dispatched} triggers dispatched (${applied.other} other)`);
  }
  return problems;
}

async function main() {
  const url = databaseUrl(DB_NAME);
  if ((await migrate(url)) !== 0) throw new Error('migrations failed');
  const started = [];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const common = { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX, HOST: '127.0.0.1', ...UNREACHED_HOOK_LIMITS };
    const ingressPort = await freePort();
    started.push(await startProcess('apps/ingress/dist/main.js', { ...common, INGRESS_PORT: String(ingressPort) }, ingressPort));
    const workerPort = await freePort();
    const worker = await startProcess(
      'apps/worker/dist/main.js',
      { ...common, WORKER_PORT: String(workerPort), WORKER_QUEUES: 'dispatch,maintenance' },
      workerPort,
    );
    started.push(worker);
    const ingressUrl = `http://127.0.0.1:${ingressPort}`;
    // Warm-up on a broadcast of its own (JIT, pools, caches), left out of the figures.
    const warmUp = await seedBroadcast(client, 0);
    await runAutocannon({ url: `${ingressUrl}/hooks/${warmUp.token}`, connections: CONNECTIONS, duration: 2 });
    await waitApplied(client, [warmUp.id]);

    // First, so that the worker's peak RSS is this dispatch's.
    const preloaded = await backlog(client, worker);
    const user = await perUser(client, ingressUrl);
    const plainCalls = await plain(client, ingressUrl);

    console.log(`\n| bench:triggers (${SECONDS} s floods, ${CONNECTIONS} connections) | accepted/s | applied/s | applied/accepted | applied |`);
    console.log('|---|---|---|---|---|');
    const problems = [...report('per-user calls, one broadcast', user), ...report(`plain calls, ${PLAIN_BROADCASTS} broadcasts`, plainCalls)];
    console.log(
      `\nper-user contacts: ${user.check.contacts.toLocaleString('en-US')} created, ${user.check.wrong} with another call's value; ${user.check.deliveries.toLocaleString('en-US')} deliveries`,
    );
    console.log(
      `\nbacklog of ${BACKLOG.toLocaleString('en-US')} per-user triggers: dispatched in ${preloaded.seconds.toFixed(1)} s = **${Math.round(preloaded.perSecond).toLocaleString('en-US')} triggers/s**; ` +
        `worker peak RSS ${preloaded.rssMb} MB; ${preloaded.deliveries.toLocaleString('en-US')} deliveries, ${preloaded.dispatched.toLocaleString('en-US')} triggers dispatched, ` +
        `${preloaded.right.toLocaleString('en-US')} contacts holding their own call's value; ` +
        `CPU meanwhile: worker ${preloaded.cpu.worker.toFixed(1)} s, Postgres ${preloaded.cpu.postgres.toFixed(1)} s`,
    );
    if (preloaded.deliveries !== BACKLOG || preloaded.dispatched !== BACKLOG || preloaded.right !== BACKLOG)
      problems.push('backlog: deliveries, triggers or contacts do not add up');
    const misses = [];
    if (preloaded.perSecond < FLOOR.perSecond) misses.push(`${Math.round(preloaded.perSecond)} triggers/s is below the floor of ${FLOOR.perSecond}/s`);
    if (preloaded.rssMb > FLOOR.rssMb) misses.push(`worker peak RSS ${preloaded.rssMb} MB is above ${FLOOR.rssMb} MB`);
    console.log(misses.length ? `FLOOR MISSED: ${misses.join('; ')}` : `floor (≥ ${FLOOR.perSecond}/s, ≤ ${FLOOR.rssMb} MB): met`);
    if (misses.length) process.exitCode = 1;
    if (user.check.wrong !== 0 || user.check.contacts !== user.applied.dispatched || user.check.deliveries !== user.applied.dispatched) {
      problems.push('per-user: contacts or deliveries do not match the calls accepted');
    }
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
