// pnpm bench:deliver — one hook call → BENCH_DELIVERIES (default 100,000) contacts delivered
// through the Custom channel, unthrottled, by the real ingress and one real worker process, to
// the fake providers in a process of their own (@herald/testing's fake-providers-process, its
// custom endpoint checking every signature; FAKE_COUNT=0 measures what counting costs).
// Measures deliveries/s from the first to the last message the receiver answered, hook call →
// run completed, and the worker's peak RSS (VmHWM). Then, as the baseline, the same receiver
// driven by autocannon with the same kind of signed body at the worker's in-flight limit
// (DELIVERY_CONCURRENCY connections), and the ratio.
//
// The DELIVERY_* settings and DATABASE_POOL_SIZE are taken from the environment when set, so
// `DELIVERY_CLAIM_BATCH=100 pnpm bench:deliver` tries another tuning; BENCH_WORKER_NODE_OPTIONS
// goes to the worker alone (e.g. `--max-old-space-size=256`, or `--require` of a profiler).
//
// Also printed: the CPU seconds the worker, the receiver and this database's Postgres backends
// used during the run, and the whole machine's, so a slow run shows where the time went.
//
// Floor (exit 1 when missed): ≥ 5,000 deliveries/s and worker peak RSS ≤ 300 MB.
// Goal (reported): ≥ 10,000 deliveries/s and ≥ 0.5 of the baseline.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import {
  adminQuery,
  cpuSeconds,
  insertBroadcast,
  cpuSecondsMatching,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  machineCpuSeconds,
  migrate,
  peakRssMb,
  REDIS_URL,
  runAutocannon,
  sealedCredentials,
  startProcess,
  summarise,
  UNREACHED_HOOK_LIMITS,
} from './support.mjs';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 100_000);
const FLOOR = { perSecond: 5_000, rssMb: 300 };
const GOAL = { perSecond: 10_000, ofBaseline: 0.5 };
const RUN_TIMEOUT_MS = 15 * 60_000;
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
// The worker's defaults (packages/config/src/herald.schema.ts) unless the environment says otherwise.
const SETTINGS = Object.fromEntries(
  Object.entries({
    DELIVERY_CONCURRENCY: 100,
    DELIVERY_CLAIM_BATCH: 50,
    DELIVERY_CHUNK_CONCURRENCY: 4,
    DELIVERY_CHUNK_SIZE: 1_000,
    DATABASE_POOL_SIZE: 10,
  }).map(([name, fallback]) => [name, String(process.env[name] ?? fallback)]),
);
const CONCURRENCY = Number(SETTINGS.DELIVERY_CONCURRENCY);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const getJson = (url, init) => fetch(url, init).then((r) => r.json());

async function seed(url, connection) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { botId, broadcastId, token } = await insertBroadcast(client, { message: { text: 'Hello {{first_name}}' }, delayMs: 0 });
    await client.query(
      `INSERT INTO channel_connections (bot_id, channel, provider, credentials, base_url, rate_limit_per_second)
       VALUES ($1, 'CustomChannel', 'custom', $2, $3, NULL)`,
      [botId, sealedCredentials(botId, 'CustomChannel', connection.credentials), connection.baseUrl],
    );
    const started = Date.now();
    await client.query(
      `INSERT INTO contacts (bot_id, bot_channel, user_id, first_name, variables)
       SELECT $1, 'CustomChannel', 'u' || i, 'Name ' || i, jsonb_build_object('city', 'City ' || (i % 100))
       FROM generate_series(1, $2) AS i`,
      [botId, DELIVERIES],
    );
    await client.query('ANALYZE contacts');
    console.log(`seeded ${DELIVERIES} contacts in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { broadcastId, token };
  } finally {
    await client.end();
  }
}

/** A body like the custom adapter's, signed as it signs: what the baseline client sends. */
function signedRequest(connection) {
  const body = JSON.stringify({
    delivery_id: '1',
    run_id: randomUUID(),
    broadcast_id: randomUUID(),
    bot_id: randomUUID(),
    contact: { user_id: 'u1', bot_channel: 'CustomChannel', user_phone_number: null, first_name: 'Name 1', last_name: null, user_name: null, locale: null },
    text: 'Hello Name 1',
  });
  const signature = createHmac('sha256', connection.credentials.secret).update(body).digest('hex');
  return {
    url: connection.baseUrl,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'Herald', 'x-herald-signature': `sha256=${signature}`, 'idempotency-key': '1' },
    body,
  };
}

/** Polls the run until it is final; the worker dying fails the bench rather than hanging it. */
async function waitForFinalRun(client, broadcastId, worker) {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const {
      rows: [run],
    } = await client.query(
      `SELECT status, targeted, sent, failed, skipped, extract(epoch FROM finished_at) * 1000 AS finished_ms
       FROM runs WHERE broadcast_id = $1`,
      [broadcastId],
    );
    if (run && !['dispatching', 'delivering'].includes(run.status)) return run;
    if (worker.child.exitCode !== null) throw new Error(`the worker exited with ${worker.child.exitCode} before the run finished`);
    if (Date.now() > deadline) throw new Error(`the run did not finish within ${RUN_TIMEOUT_MS / 1000} s: ${JSON.stringify(run)}`);
    await sleep(100);
  }
}

/** 1–4: the receiver, the database, ingress and worker, one hook call, the run to its end. */
async function measureHerald(url, receiver, connection, started) {
  const receiverUrl = receiver.url;
  const { broadcastId, token } = await seed(url, connection);
  const common = {
    DATABASE_URL: url,
    REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    HOST: '127.0.0.1',
    OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1',
    ...UNREACHED_HOOK_LIMITS,
  };
  const ingressPort = await freePort();
  started.push(await startProcess('apps/ingress/dist/main.js', { ...common, INGRESS_PORT: String(ingressPort) }, ingressPort));
  const workerPort = await freePort();
  const worker = await startProcess(
    'apps/worker/dist/main.js',
    {
      ...common,
      ...SETTINGS,
      WORKER_PORT: String(workerPort),
      ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {}),
    },
    workerPort,
  );
  started.push(worker);

  await getJson(`${receiverUrl}/reset`, { method: 'POST' });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // CPU used during the run, to see who is busy: the worker, the receiver, Postgres.
    const cpu = () => ({
      worker: cpuSeconds(worker.child.pid),
      receiver: cpuSeconds(receiver.pid),
      postgres: cpuSecondsMatching(DB_NAME),
      machine: machineCpuSeconds().busy,
    });
    const cpuBefore = cpu();
    const loadBefore = loadavg()[0];
    const calledAt = Date.now();
    const hook = await fetch(`http://127.0.0.1:${ingressPort}/hooks/${token}`);
    const answeredAt = Date.now();
    if (hook.status !== 200) throw new Error(`the hook call answered ${hook.status}: ${await hook.text()}`);
    await hook.arrayBuffer();
    const run = await waitForFinalRun(client, broadcastId, worker);
    const cpuAfter = cpu();
    const rssMb = peakRssMb(worker.child.pid);
    const stats = await getJson(`${receiverUrl}/stats`);
    const cpuUsed = Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, cpuAfter[k] - cpuBefore[k]]));
    // Claims and outcomes should be HOT updates (no index entry written): Postgres publishes
    // its table counters within a second.
    await sleep(1_500);
    const {
      rows: [updates],
    } = await client.query(`SELECT n_tup_upd::int AS all, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = 'deliveries'`);
    return { calledAt, answeredAt, run, rssMb, receiver: stats, cpuUsed, updates, load: [loadBefore, loadavg()[0]] };
  } finally {
    await client.end();
  }
}

/** 5: the same receiver, a plain load client at the same concurrency, the same number of requests. */
async function measureBaseline(receiverUrl, receiverPid, connection) {
  await getJson(`${receiverUrl}/reset`, { method: 'POST' });
  const cpuBefore = { receiver: cpuSeconds(receiverPid), client: process.cpuUsage() };
  const result = summarise(await runAutocannon({ ...signedRequest(connection), connections: CONCURRENCY, amount: DELIVERIES }));
  const clientCpu = process.cpuUsage(cpuBefore.client);
  const cpuUsed = { receiver: cpuSeconds(receiverPid) - cpuBefore.receiver, client: (clientCpu.user + clientCpu.system) / 1e6 };
  const receiver = await getJson(`${receiverUrl}/stats`);
  if (result.ok2xx !== DELIVERIES || receiver.ok !== DELIVERIES) {
    throw new Error(
      `baseline: ${result.ok2xx} of ${DELIVERIES} answered 2xx (receiver counted ${receiver.ok}, other ${receiver.other}; errors ${result.errors})`,
    );
  }
  return { ...result, receiverRate: DELIVERIES / ((receiver.lastAt - receiver.firstAt) / 1000), cpuUsed };
}

/** What the run and the receiver must show, else the numbers mean nothing. */
function checkDelivered({ run, receiver }) {
  const problems = [];
  if (run.status !== 'completed') problems.push(`run ended ${run.status}`);
  if (run.sent !== DELIVERIES || run.failed !== 0 || run.skipped !== 0) {
    problems.push(`run counted sent ${run.sent}, failed ${run.failed}, skipped ${run.skipped} of ${run.targeted} targeted (expected ${DELIVERIES} sent)`);
  }
  if (receiver.distinctKeys !== DELIVERIES) problems.push(`receiver saw ${receiver.distinctKeys} distinct Idempotency-Keys, expected ${DELIVERIES}`);
  if (receiver.other !== 0) problems.push(`receiver answered ${receiver.other} requests other than 200 (a bad signature or body)`);
  if (problems.length) throw new Error(`delivery incomplete: ${problems.join('; ')}`);
}

const grouped = (n) => Math.round(n).toLocaleString('en-US');

async function main() {
  const started = [];
  try {
    const receiverPort = await freePort();
    const receiverProcess = await startProcess(
      'packages/testing/dist/fake-providers/fake-providers-process.js',
      {
        PORT: String(receiverPort),
        FAKE_RECORD: '0', // keep nothing per request: the fake's benchmark mode
        ...(process.env.FAKE_COUNT ? { FAKE_COUNT: process.env.FAKE_COUNT } : {}),
      },
      receiverPort,
    );
    started.push(receiverProcess);
    const receiverUrl = `http://127.0.0.1:${receiverPort}`;
    const receiverPid = receiverProcess.child.pid;
    const connection = await getJson(`${receiverUrl}/connection`);
    // Warm-up of the receiver (JIT, sockets), so neither measurement pays for it.
    await runAutocannon({ ...signedRequest(connection), connections: CONCURRENCY, duration: 2 });

    const url = databaseUrl(DB_NAME);
    if ((await migrate(url)) !== 0) throw new Error('migrations failed');
    const herald = await measureHerald(url, { url: receiverUrl, pid: receiverPid }, connection, started);
    checkDelivered(herald);
    // Ingress and worker stop before the baseline: it gets the machine as the run had it.
    for (const child of started.splice(1).reverse()) await child.stop();

    const baseline = await measureBaseline(receiverUrl, receiverPid, connection);
    const { receiver, run } = herald;
    const seconds = (receiver.lastAt - receiver.firstAt) / 1000;
    const perSecond = DELIVERIES / seconds;
    const ratio = perSecond / baseline.receiverRate;
    const settings = Object.entries(SETTINGS)
      .map(([name, value]) => `${name}=${value}`)
      .join(', ');

    console.log(`\n| bench:deliver (Custom channel, unthrottled) | |`);
    console.log('|---|---|');
    console.log(
      `| deliveries (run sent / receiver 200s / distinct Idempotency-Keys) | ${grouped(run.sent)} / ${grouped(receiver.ok)} / ${grouped(receiver.distinctKeys)} |`,
    );
    console.log(`| first → last message at the receiver | ${seconds.toFixed(2)} s |`);
    console.log(`| **deliveries/s** | **${grouped(perSecond)}** |`);
    console.log(`| hook call answered | ${herald.answeredAt - herald.calledAt} ms |`);
    console.log(`| hook call → first message | ${((receiver.firstAt - herald.calledAt) / 1000).toFixed(2)} s |`);
    console.log(`| hook call → run completed | ${((run.finished_ms - herald.calledAt) / 1000).toFixed(2)} s |`);
    console.log(`| worker peak RSS (VmHWM) | ${herald.rssMb} MB |`);
    console.log(
      `| baseline: autocannon, ${CONCURRENCY} connections, ${grouped(DELIVERIES)} signed POSTs | ${grouped(baseline.receiverRate)} req/s (autocannon: ${grouped(baseline.rps)}/s, p50 ${baseline.p50} ms, p99 ${baseline.p99} ms) |`,
    );
    console.log(`| ratio Herald/baseline | ${ratio.toFixed(2)} |`);
    const runSeconds = (run.finished_ms - herald.calledAt) / 1000;
    const c = herald.cpuUsed;
    const perDelivery = (s) => `${((s * 1000) / DELIVERIES).toFixed(2)} ms`;
    console.log(
      `| CPU during the run (hook → completed, ${runSeconds.toFixed(1)} s) | worker ${c.worker.toFixed(1)} s, receiver ${c.receiver.toFixed(1)} s, Postgres backends ${c.postgres.toFixed(1)} s; whole machine ${c.machine.toFixed(1)} s of ${(runSeconds * availableParallelism()).toFixed(1)} s |`,
    );
    console.log(`| CPU per delivery | worker ${perDelivery(c.worker)}, receiver ${perDelivery(c.receiver)}, Postgres ${perDelivery(c.postgres)} |`);
    console.log(`| delivery row updates that were HOT (no index entry) | ${grouped(herald.updates.hot)} of ${grouped(herald.updates.all)} |`);
    console.log(`| CPU during the baseline | receiver ${baseline.cpuUsed.receiver.toFixed(1)} s, autocannon ${baseline.cpuUsed.client.toFixed(1)} s |`);
    console.log(`| load average (1 min) before → after the run | ${herald.load.map((l) => l.toFixed(1)).join(' → ')} (${availableParallelism()} cores) |`);
    console.log(`| settings | ${settings} |`);

    const misses = [];
    if (perSecond < FLOOR.perSecond) misses.push(`${grouped(perSecond)} deliveries/s is below the floor of ${grouped(FLOOR.perSecond)}/s`);
    if (herald.rssMb > FLOOR.rssMb) misses.push(`worker peak RSS ${herald.rssMb} MB is above the floor of ${FLOOR.rssMb} MB`);
    const goal = perSecond >= GOAL.perSecond && ratio >= GOAL.ofBaseline;
    console.log(`\ngoal (≥ ${grouped(GOAL.perSecond)}/s and ≥ ${GOAL.ofBaseline} of the baseline): ${goal ? 'met' : 'not met'}`);
    if (misses.length) {
      console.error(`FLOOR MISSED: ${misses.join('; ')}`);
      process.exitCode = 1;
    } else {
      console.log(`floor (≥ ${grouped(FLOOR.perSecond)}/s, ≤ ${FLOOR.rssMb} MB): met`);
    }
  } finally {
    for (const child of started.reverse()) await child.stop();
  }
}

try {
  await main();
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
  await deleteRedisPrefix(PREFIX);
}
