// pnpm test:soak — Herald under a steady load for SOAK_SECONDS (default 600): does it keep up,
// answer no 5xx, complete every run, and hold its memory flat?
//
// Real processes on the built code: one ingress, two workers (every queue each) and the fake
// providers in a process of their own (@herald/testing's fake-providers-process, the custom
// endpoint checking every signature), on Postgres and Redis, with a scratch database and queue
// prefix dropped at the end. The admin process seeds through the admin API, then stops:
//   - one bot, a Custom channel connection to the fake (unthrottled), SOAK_CONTACTS (2,000)
//     contacts, each with a variable `g` = its number mod 100;
//   - 50 broadcasts whose configured audiences overlap (broadcast k: g from 2k to 2k+3, so
//     neighbours share half of theirs). 45 are called in bursts: five groups of 9, each group
//     called for 2 s of every 10 s, so each broadcast goes quiet long enough (delay_ms 1–2 s)
//     for its run to start. 5 are called all the time and have max_delay_ms 2 s, so they get
//     a run about every 2 s anyway (their calls take the ingress's path of one INSERT each).
//
// The load: this process, open loop at SOAK_RATE calls/s (default 1,100) over up to 64
// keep-alive connections: mostly per-user calls (`targets`, one contact of the 2,000, with a
// variable of its own), and SOAK_AUDIENCE_SHARE (2%) audience calls, half plain GETs (the
// configured audience), half POSTs with an audience filter (g equals one value: 20 contacts)
// and a variable to set. Every call comes from 127.0.0.1, so HOOK_RATE_LIMIT_PER_ADDRESS is
// raised to 100,000,000 (the default, 10,000 per 10 s, is the soak's own rate); the
// per-broadcast limit stays at its default, which the soak stays under.
//
// Checked (exit 1 if any fails):
//   1. no 5xx answer and no failed request;
//   2. at least min(1,000, SOAK_RATE) calls/s answered over the load;
//   3. after a drain of up to SOAK_DRAIN_SECONDS (180), every trigger whose id a 200 answered
//      is `dispatched` into a run that is `completed`;
//   4. the RSS (VmRSS, sampled every 10 s) of the ingress and of each worker at the end of the
//      load is within 15% of its value after the first minute: the median of the samples of
//      the load's last 2 minutes against the median of those from 60 to 170 s (single samples
//      swing by tens of percent with the garbage collector's cycle: see rssSummary).
//      The V8 heap in use is sampled beside it. When SOAK_SECONDS < 120, 20 s windows from half
//      the load and at its end, so `SOAK_SECONDS=60` tries the whole thing quickly.
// Reported: calls/s, latency p50/p99/max, 4xx/5xx, runs, deliveries, RSS series, CPU.
// SOAK_NODE_OPTIONS goes to the ingress and the workers (e.g. `--heapsnapshot-signal=SIGUSR2`).
// On a Postgres with autovacuum off (a CI configuration may have it), the soak runs VACUUM
// (ANALYZE) itself every SOAK_VACUUM_SECONDS (60; 0 turns it off), as autovacuum would: without
// it, Postgres slowed minute by minute until runs stopped completing in time.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  adminQuery,
  cpuSeconds,
  cpuSecondsMatching,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  machineCpuSeconds,
  migrate,
  REDIS_URL,
  ROOT,
} from './support.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RATE = Number(process.env.SOAK_RATE ?? 1_100);
const DRAIN_SECONDS = Number(process.env.SOAK_DRAIN_SECONDS ?? 180);
const CONTACTS = Number(process.env.SOAK_CONTACTS ?? 2_000);
const AUDIENCE_SHARE = Number(process.env.SOAK_AUDIENCE_SHARE ?? 0.02);
const FLOOR_PER_SECOND = Math.min(1_000, RATE);
const RSS_TOLERANCE = 0.15;
const SAMPLE_SECONDS = 10;
// The RSS every later sample is compared with: after the first minute (warm-up: JIT, pools, caches).
const RSS_REFERENCE_SECONDS = SECONDS >= 120 ? 60 : Math.max(SAMPLE_SECONDS, Math.floor(SECONDS / 2 / SAMPLE_SECONDS) * SAMPLE_SECONDS);
// Each end of the RSS comparison is the median of a window of samples this long (see rssSummary).
const RSS_WINDOW_SECONDS = SECONDS >= 120 ? Math.min(120, Math.floor((SECONDS - 60) / 2 / SAMPLE_SECONDS) * SAMPLE_SECONDS) : 2 * SAMPLE_SECONDS;
const CONNECTIONS = 64;
const GROUPS = 5;
const PER_GROUP = 9;
const BURST_SECONDS = 2;
const STEADY = 5;
const STEADY_SHARE = 0.1;
const DB_NAME = `herald_soak_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-soak-${randomBytes(3).toString('hex')}`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const grouped = (n) => Math.round(n).toLocaleString('en-US');
const mb = (kb) => Math.round(kb / 1024);

/** A built Herald process (or the fake) with its output in a log file; resolves once GET /readyz on `port` answers 200. */
async function startService(name, script, env, port, logDir) {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [join(ROOT, script)], {
    cwd: logDir, // so no .env of the repository is read
    env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}; see ${log}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${name} did not become ready; see ${log}`);
    await sleep(100);
  }
  return {
    name,
    port,
    pid: child.pid,
    log,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Warnings and errors a process logged (JSON lines with `level`). */
function logLevels(service) {
  const counts = { warn: 0, error: 0 };
  for (const line of readFileSync(service.log, 'utf8').split('\n')) {
    const level = /"level":"(warn|error)"/.exec(line)?.[1];
    if (level) counts[level]++;
  }
  return counts;
}

/** VmRSS of a process, in kB. */
function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

async function adminApi(adminUrl, key, method, path, body) {
  const response = await fetch(`${adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** The bot, its connection, contacts and the 50 broadcasts, made through the admin API. */
async function seed(adminUrl, key, connection) {
  const bot = await adminApi(adminUrl, key, 'POST', '/v1/bots', { name: 'soak' });
  await adminApi(adminUrl, key, 'PUT', `/v1/bots/${bot.id}/channels/custom`, {
    provider: 'custom',
    credentials: connection.credentials,
    base_url: connection.baseUrl,
  });
  const contacts = [];
  for (let i = 1; i <= CONTACTS; i++) {
    contacts.push({ user_id: `u${i}`, bot_channel: 'custom', first_name: `Name ${i}`, variables: { g: String(i % 100) } });
  }
  for (let from = 0; from < contacts.length; from += 10_000) {
    await adminApi(adminUrl, key, 'POST', `/v1/bots/${bot.id}/contacts`, { contacts: contacts.slice(from, from + 10_000) });
  }
  const broadcasts = [];
  for (let k = 0; k < GROUPS * PER_GROUP + STEADY; k++) {
    const steady = k >= GROUPS * PER_GROUP;
    const broadcast = await adminApi(adminUrl, key, 'POST', `/v1/bots/${bot.id}/broadcasts`, {
      name: `soak ${k}`,
      message: { text: 'Hi {{first_name}}: order {{order}}, call {{last_call}}' },
      // g in [2k, 2k + 3]: overlaps the neighbours' audiences by half.
      audience: {
        filters: [
          { field: 'g', criteria: 'GreaterThan', value: String(2 * k - 1) },
          { field: 'g', criteria: 'LesserThan', value: String(2 * k + 4) },
        ],
        join: ['AND'],
      },
      delay_ms: steady ? 1_000 : 1_000 + (k % 3) * 500,
      ...(steady ? { max_delay_ms: 2_000 } : {}),
    });
    broadcasts.push({ id: broadcast.id, path: new URL(broadcast.hook_url).pathname });
  }
  return { botId: bot.id, bursty: broadcasts.slice(0, GROUPS * PER_GROUP), steady: broadcasts.slice(GROUPS * PER_GROUP) };
}

/** The n-th call at `elapsed` seconds into the load: which hook, and what it sends. */
function nextCall({ bursty, steady }, elapsed, n) {
  const broadcast =
    Math.random() < STEADY_SHARE
      ? steady[n % STEADY]
      : bursty[(Math.floor(elapsed / BURST_SECONDS) % GROUPS) * PER_GROUP + Math.floor(Math.random() * PER_GROUP)];
  const kind = Math.random();
  if (kind < AUDIENCE_SHARE / 2) return { path: broadcast.path, method: 'GET' };
  const body =
    kind < AUDIENCE_SHARE
      ? {
          audience_filters: 'g',
          audience_criteria: 'Equals',
          audience_values: String(Math.floor(Math.random() * 100)),
          set_variables: 'last_call',
          set_variables_values: `c${n}`,
        }
      : { targets: [{ user_id: `u${1 + Math.floor(Math.random() * CONTACTS)}`, bot_channel: 'custom', variables: { order: `o${n}` } }] };
  return { path: broadcast.path, method: 'POST', body: JSON.stringify(body) };
}

/**
 * Open-loop load: calls are started at RATE per second whatever the answers (a slow server
 * gets a queue, not fewer calls), over a keep-alive pool of CONNECTIONS sockets. Latency runs
 * from the call's start to the end of its answer, queueing for a socket included; kept in a
 * histogram of 0.1 ms buckets. The trigger id of every 200 is kept for the final check.
 */
function runLoad(ingressPort, broadcasts, onSecond) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const histogram = new Uint32Array(600_000); // 0.1 ms buckets up to 60 s
  const stats = { started: 0, answered: 0, byClass: { '2xx': 0, '4xx': 0, '5xx': 0, other: 0 }, byStatus: {}, errors: 0, triggerIds: [] };
  const windows = []; // answers per SAMPLE_SECONDS window
  const slowest = []; // the longest answer per SAMPLE_SECONDS window, ms
  const t0 = performance.now();
  let inFlight = 0;

  const record = (startedAt, status, body) => {
    inFlight--;
    const ms = performance.now() - startedAt;
    histogram[Math.min(histogram.length - 1, Math.floor(ms * 10))]++;
    stats.answered++;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    const cls = status >= 200 && status < 300 ? '2xx' : status >= 400 && status < 500 ? '4xx' : status >= 500 ? '5xx' : 'other';
    stats.byClass[cls]++;
    const w = Math.floor((performance.now() - t0) / 1000 / SAMPLE_SECONDS);
    windows[w] = (windows[w] ?? 0) + 1;
    slowest[w] = Math.max(slowest[w] ?? 0, Math.round(ms));
    if (status === 200) {
      const id = /"trigger_id":"([0-9a-f-]{36})"/.exec(body)?.[1];
      if (id) stats.triggerIds.push(id);
      else stats.errors++;
    }
  };

  const send = (call) => {
    stats.started++;
    inFlight++;
    const startedAt = performance.now();
    const headers = call.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(call.body) };
    const request = http.request({ agent, host: '127.0.0.1', port: ingressPort, method: call.method, path: call.path, headers, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => record(startedAt, res.statusCode, body));
      res.on('error', () => {
        inFlight--;
        stats.errors++;
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => {
      inFlight--;
      stats.errors++;
    });
    request.end(call.body);
  };

  return new Promise((resolve) => {
    let lastSecond = 0;
    const timer = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      if (elapsed >= SECONDS) {
        clearInterval(timer);
        const waitForAnswers = setInterval(() => {
          if (inFlight > 0) return;
          clearInterval(waitForAnswers);
          agent.destroy();
          resolve({ stats, windows, slowest, percentile: (p) => percentile(histogram, stats.answered, p), seconds: elapsed });
        }, 20);
        return;
      }
      const due = Math.floor(elapsed * RATE);
      while (stats.started < due) send(nextCall(broadcasts, elapsed, stats.started));
      if (Math.floor(elapsed) > lastSecond) {
        lastSecond = Math.floor(elapsed);
        onSecond(lastSecond, stats);
      }
    }, 2);
  });
}

function percentile(histogram, total, p) {
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i];
    if (seen >= rank) return (i + 1) / 10;
  }
  return NaN;
}

/**
 * What autovacuum would do, for a server that has it off (a CI configuration may): VACUUM
 * (ANALYZE) of the scratch database every `everySeconds` from a connection of its own. Without
 * it, ten minutes of this load leave a million dead rows unvacuumed and tables never analyzed
 * since they were empty, and Postgres, not Herald, runs out of CPU. Its CPU is counted in
 * Postgres's. Returns a stop function resolving to how many passes ran and how long they took.
 */
async function startVacuums(url, everySeconds) {
  if (everySeconds <= 0) return async () => ({ passes: 0, seconds: 0, at: [] });
  const vacuumClient = new pg.Client({ connectionString: url });
  await vacuumClient.connect();
  // Paced as autovacuum paces itself (its defaults: 2 ms of rest per 200 cost units); a plain
  // VACUUM does not rest, and its bursts of I/O stalled the hook calls for seconds.
  await vacuumClient.query("SET vacuum_cost_delay = '2ms'; SET vacuum_cost_limit = 200");
  const done = { passes: 0, seconds: 0, at: [] };
  const t0 = Date.now();
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      const started = Date.now();
      await vacuumClient.query('VACUUM (ANALYZE)');
      done.passes++;
      done.at.push({ at: Math.round((started - t0) / 1000), seconds: (Date.now() - started) / 1000 });
      done.seconds += (Date.now() - started) / 1000;
    });
  }, everySeconds * 1000);
  return async () => {
    clearInterval(timer);
    await running;
    await vacuumClient.end();
    return done;
  };
}

/** Waits until no trigger is pending and no run is in progress, or the drain time is over. */
async function drain(client) {
  const deadline = Date.now() + DRAIN_SECONDS * 1000;
  for (;;) {
    const {
      rows: [left],
    } = await client.query(
      `SELECT (SELECT count(*) FROM triggers WHERE status = 'pending')::int AS pending,
              (SELECT count(*) FROM runs WHERE status IN ('dispatching', 'delivering'))::int AS in_progress`,
    );
    if ((left.pending === 0 && left.in_progress === 0) || Date.now() > deadline) return left;
    await sleep(500);
  }
}

/** Check 3: every accepted call's trigger dispatched into a completed run. */
async function checkAccepted(client, triggerIds) {
  await client.query('CREATE TEMP TABLE accepted (id uuid PRIMARY KEY)');
  for (let from = 0; from < triggerIds.length; from += 50_000) {
    await client.query('INSERT INTO accepted SELECT unnest($1::uuid[])', [triggerIds.slice(from, from + 50_000)]);
  }
  const {
    rows: [check],
  } = await client.query(
    `SELECT count(*)::int AS accepted,
            count(t.id)::int AS recorded,
            count(*) FILTER (WHERE t.status = 'dispatched' AND r.status = 'completed')::int AS in_completed_runs,
            count(*) FILTER (WHERE t.status = 'pending')::int AS pending,
            count(*) FILTER (WHERE t.status IN ('cancelled', 'failed'))::int AS cancelled_or_failed,
            count(*) FILTER (WHERE t.status = 'dispatched' AND r.status IS DISTINCT FROM 'completed')::int AS in_unfinished_runs
     FROM accepted a LEFT JOIN triggers t ON t.id = a.id LEFT JOIN runs r ON r.id = t.run_id`,
  );
  return check;
}

function rssSummary(series) {
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const values = series.map((s) => s.kb);
  const sorted = [...values].sort((a, b) => a - b);
  // Single samples swing with V8's old-generation cycle: the heap in use climbs from its live
  // size (35-50 MB in a worker) to two or three times that before a major collection, over a
  // minute or so, and the RSS follows it up at once but down only lazily (a worker measured
  // 206 MB at 10 min, 152 MB a minute earlier, with 40-90 MB of heap in use; a one-minute
  // median still read +23%). So each end of the comparison is the median of a window of
  // RSS_WINDOW_SECONDS (2 minutes): the window starting after the first minute, and the
  // load's last one. A leak moves the whole window; one collection cycle does not.
  const inWindow = (from, to) => series.filter((s) => s.at >= from && s.at <= to).map((s) => s.kb);
  const reference = median(inWindow(RSS_REFERENCE_SECONDS, RSS_REFERENCE_SECONDS + RSS_WINDOW_SECONDS - SAMPLE_SECONDS));
  const end = median(inWindow(SECONDS - RSS_WINDOW_SECONDS + SAMPLE_SECONDS, SECONDS));
  return {
    reference,
    end,
    first: values[0],
    last: values[values.length - 1],
    min: sorted[0],
    median: median(values),
    max: sorted[sorted.length - 1],
    change: (end - reference) / reference,
    // One value a minute (every sample for a short soak), to see a trend at a glance.
    trend: series.filter((s) => s.at % (SECONDS >= 120 ? 60 : SAMPLE_SECONDS) === 0).map((s) => mb(s.kb)),
  };
}

async function main() {
  const logDir = mkdtempSync(join(tmpdir(), 'herald-soak-'));
  const started = [];
  const problems = [];
  let client;
  let finished = false;
  try {
    const url = databaseUrl(DB_NAME);
    if ((await migrate(url)) !== 0) throw new Error('migrations failed');
    const fakePort = await freePort();
    const fake = await startService(
      'fake-providers',
      'packages/testing/dist/fake-providers/fake-providers-process.js',
      { PORT: String(fakePort), FAKE_RECORD: '0' },
      fakePort,
      logDir,
    );
    started.push(fake);
    const fakeUrl = `http://127.0.0.1:${fakePort}`;
    const connection = await fetch(`${fakeUrl}/connection?provider=custom`).then((r) => r.json());

    const ports = { ingress: await freePort(), admin: await freePort(), worker1: await freePort(), worker2: await freePort() };
    const adminKey = randomBytes(24).toString('hex');
    const common = {
      DATABASE_URL: url,
      REDIS_URL,
      QUEUE_PREFIX: PREFIX,
      HOST: '127.0.0.1',
      HERALD_SECRET_KEY: randomBytes(32).toString('base64'),
      OUTBOUND_ALLOWED_DESTINATIONS: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${ports.ingress}`,
    };
    const nodeOptions = process.env.SOAK_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SOAK_NODE_OPTIONS } : {};

    // Seeding through the admin API, as an operator would; the admin is not part of the soak.
    const admin = await startService(
      'admin',
      'apps/admin/dist/main.js',
      { ...common, ADMIN_PORT: String(ports.admin), ADMIN_API_KEY: adminKey },
      ports.admin,
      logDir,
    );
    const broadcasts = await seed(`http://127.0.0.1:${ports.admin}`, adminKey, connection).finally(() => admin.stop());
    console.log(`seeded ${grouped(CONTACTS)} contacts and ${broadcasts.bursty.length + broadcasts.steady.length} broadcasts; logs in ${logDir}`);

    const ingress = await startService(
      'ingress',
      'apps/ingress/dist/main.js',
      // Every call comes from 127.0.0.1: the per-address abuse limit (10,000 per 10 s) is the soak's own rate.
      { ...common, ...nodeOptions, INGRESS_PORT: String(ports.ingress), HOOK_RATE_LIMIT_PER_ADDRESS: '100000000' },
      ports.ingress,
      logDir,
    );
    started.push(ingress);
    const workers = [];
    for (const [i, port] of [ports.worker1, ports.worker2].entries()) {
      const worker = await startService(`worker-${i + 1}`, 'apps/worker/dist/main.js', { ...common, ...nodeOptions, WORKER_PORT: String(port) }, port, logDir);
      started.push(worker);
      workers.push(worker);
    }
    const measured = [ingress, ...workers];
    const watched = [...measured, fake];
    client = new pg.Client({ connectionString: url });
    await client.connect();
    const {
      rows: [{ autovacuum }],
    } = await client.query('SHOW autovacuum');
    const vacuumSeconds = Number(process.env.SOAK_VACUUM_SECONDS ?? (autovacuum === 'off' ? 60 : 0));
    const stopVacuums = await startVacuums(url, vacuumSeconds);
    await fetch(`${fakeUrl}/reset`, { method: 'POST' });

    // RSS every SAMPLE_SECONDS; CPU at the start and end of the load.
    const rss = Object.fromEntries(watched.map((s) => [s.name, []]));
    // The V8 heap in use (prom-client's gauge on each /metrics), beside the RSS: growth of the
    // heap in use across garbage collections is a leak; of the RSS alone, the heap's headroom.
    const heap = Object.fromEntries(measured.map((s) => [s.name, []]));
    const sampleHeap = (second) =>
      Promise.all(
        measured.map(async (s) => {
          const text = await fetch(`http://127.0.0.1:${s.port}/metrics`).then(
            (r) => r.text(),
            () => '',
          );
          const used = /^herald_nodejs_heap_size_used_bytes\S* (\d+)/m.exec(text)?.[1];
          if (used) heap[s.name].push({ at: second, mb: Math.round(Number(used) / 2 ** 20) });
        }),
      );
    const cpu = () => ({
      ...Object.fromEntries(watched.map((s) => [s.name, cpuSeconds(s.pid)])),
      postgres: cpuSecondsMatching(DB_NAME),
      'redis-server': cpuSecondsMatching('redis-server'),
      driver: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()),
      machine: machineCpuSeconds().busy,
    });
    const cpuBefore = cpu();
    const reportEvery = SECONDS >= 120 ? 60 : SAMPLE_SECONDS;
    let lastAnswered = 0;
    console.log(`load: ${grouped(RATE)} calls/s for ${SECONDS} s`);
    const load = await runLoad(ports.ingress, broadcasts, (second, stats) => {
      if (second % SAMPLE_SECONDS !== 0) return;
      for (const s of watched) if (s.alive()) rss[s.name].push({ at: second, kb: rssKb(s.pid) });
      void sampleHeap(second);
      if (second % reportEvery !== 0) return;
      const rate = (stats.answered - lastAnswered) / reportEvery;
      lastAnswered = stats.answered;
      void client
        .query(`SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed FROM runs`)
        .then(({ rows: [runs] }) =>
          console.log(
            `${second} s: ${grouped(rate)} answers/s, 5xx ${stats.byClass['5xx']}, errors ${stats.errors}, runs completed ${grouped(runs.completed)}; RSS MB ` +
              watched.map((s) => `${s.name} ${mb(rss[s.name].at(-1)?.kb ?? 0)}`).join(', '),
          ),
        );
    });
    const cpuAfter = cpu();
    // The sample at the load's very end, if the last tick did not fall on it.
    for (const s of measured) if (s.alive() && rss[s.name].at(-1)?.at !== SECONDS) rss[s.name].push({ at: SECONDS, kb: rssKb(s.pid) });
    for (const s of measured) if (!s.alive()) problems.push(`${s.name} died during the load; see ${s.log}`);

    const drainStarted = Date.now();
    const left = await drain(client);
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    if (left.pending !== 0 || left.in_progress !== 0)
      problems.push(`after ${DRAIN_SECONDS} s of drain: ${left.pending} triggers pending, ${left.in_progress} runs in progress`);
    const rssAfterDrain = Object.fromEntries(measured.map((s) => [s.name, s.alive() ? mb(rssKb(s.pid)) : null]));

    const { stats } = load;
    const vacuums = await stopVacuums();
    // Every sample, for a closer look (kept with the logs when the soak fails).
    writeFileSync(
      join(logDir, 'series.json'),
      JSON.stringify({ rss, heap, answersPerWindow: load.windows, slowestPerWindowMs: load.slowest, windowSeconds: SAMPLE_SECONDS, vacuums: vacuums.at }),
    );
    const accepted = await checkAccepted(client, stats.triggerIds);
    const {
      rows: [runs],
    } = await client.query(
      `SELECT count(*)::int AS runs, count(*) FILTER (WHERE status = 'completed')::int AS completed,
              coalesce(sum(targeted), 0)::int AS targeted, coalesce(sum(sent), 0)::int AS sent,
              coalesce(sum(failed), 0)::int AS failed, coalesce(sum(skipped), 0)::int AS skipped
       FROM runs`,
    );
    const receiver = await fetch(`${fakeUrl}/stats`).then((r) => r.json());

    // The report.
    const perSecond = stats.answered / SECONDS;
    const cpuUsed = Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, cpuAfter[k] - cpuBefore[k]]));
    const core = (s) => `${((100 * s) / load.seconds).toFixed(0)}%`;
    console.log(`\n| soak (${SECONDS} s at ${grouped(RATE)} calls/s offered, ${CONNECTIONS} connections) | |`);
    console.log('|---|---|');
    const windowRates = load.windows.slice(0, Math.floor(SECONDS / SAMPLE_SECONDS)).map((n) => (n ?? 0) / SAMPLE_SECONDS);
    console.log(
      `| calls answered | ${grouped(stats.answered)}: **${grouped(perSecond)}/s** (per ${SAMPLE_SECONDS} s: ${grouped(Math.min(...windowRates))}–${grouped(Math.max(...windowRates))}/s) |`,
    );
    console.log(`| latency p50 / p99 / max | ${load.percentile(50)} / ${load.percentile(99)} / ${load.percentile(100)} ms |`);
    console.log(
      `| answers | 2xx ${grouped(stats.byClass['2xx'])}, 4xx ${stats.byClass['4xx']}, 5xx ${stats.byClass['5xx']}, failed requests ${stats.errors} (${JSON.stringify(stats.byStatus)}) |`,
    );
    console.log(
      `| accepted calls' triggers in completed runs | ${grouped(accepted.in_completed_runs)} of ${grouped(accepted.accepted)} (recorded ${grouped(accepted.recorded)}, pending ${accepted.pending}, in unfinished runs ${accepted.in_unfinished_runs}, cancelled/failed ${accepted.cancelled_or_failed}); drained in ${drainSeconds.toFixed(1)} s |`,
    );
    console.log(`| runs completed | ${grouped(runs.completed)} of ${grouped(runs.runs)} |`);
    console.log(
      `| deliveries | targeted ${grouped(runs.targeted)}, sent ${grouped(runs.sent)}, failed ${runs.failed}, skipped ${runs.skipped}; the fake answered 200 to ${grouped(receiver.ok)} (${grouped(receiver.distinctKeys)} distinct Idempotency-Keys), other ${receiver.other} |`,
    );
    const rssOf = {};
    const windowName = `median of ${RSS_REFERENCE_SECONDS}–${RSS_REFERENCE_SECONDS + RSS_WINDOW_SECONDS - SAMPLE_SECONDS} s → of the last ${RSS_WINDOW_SECONDS} s`;
    for (const s of measured) {
      const r = (rssOf[s.name] = rssSummary(rss[s.name]));
      console.log(
        `| RSS ${s.name}: ${windowName} (change) | ${mb(r.reference)} → ${mb(r.end)} MB (${(100 * r.change).toFixed(1)}%); samples: first ${mb(r.first)}, min/median/max ${mb(r.min)}/${mb(r.median)}/${mb(r.max)}, last ${mb(r.last)} MB; after the drain ${rssAfterDrain[s.name]} MB |`,
      );
      console.log(`| RSS ${s.name}, MB ${SECONDS >= 120 ? 'each minute' : `every ${SAMPLE_SECONDS} s`} | ${r.trend.join(' ')} |`);
      const heapTrend = heap[s.name].filter((h) => h.at % (SECONDS >= 120 ? 60 : SAMPLE_SECONDS) === 0).map((h) => h.mb);
      console.log(`| V8 heap in use ${s.name}, MB, same times | ${heapTrend.join(' ')} |`);
    }
    const fakeRss = rssSummary(rss[fake.name]);
    console.log(`| RSS fake providers (not checked: it keeps every Idempotency-Key) | ${mb(fakeRss.reference)} → ${mb(fakeRss.end)} MB |`);
    console.log(
      `| CPU over the load (share of one core) | ${watched.map((s) => `${s.name} ${core(cpuUsed[s.name])}`).join(', ')}, Postgres ${core(cpuUsed.postgres)}, redis-server ${core(cpuUsed['redis-server'])}, load generator ${core(cpuUsed.driver)}; machine ${core(cpuUsed.machine)} of ${availableParallelism() * 100}% |`,
    );
    console.log(
      `| Postgres autovacuum | ${autovacuum}${vacuumSeconds > 0 ? `; VACUUM (ANALYZE) by the soak every ${vacuumSeconds} s instead: ${vacuums.passes} pass(es), ${vacuums.seconds.toFixed(0)} s in all (${vacuums.at.map((v) => `${v.at} s: ${v.seconds.toFixed(1)} s`).join(', ')})` : ''} |`,
    );
    const slowWindows = load.slowest
      .map((ms, w) => ({ from: w * SAMPLE_SECONDS, ms, rate: (load.windows[w] ?? 0) / SAMPLE_SECONDS }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3);
    console.log(
      `| slowest ${SAMPLE_SECONDS} s windows (from: slowest answer, answers/s) | ${slowWindows.map((w) => `${w.from} s: ${grouped(w.ms)} ms, ${grouped(w.rate)}/s`).join('; ')} |`,
    );
    console.log(`| warnings / errors logged | ${measured.map((s) => `${s.name} ${Object.values(logLevels(s)).join('/')}`).join(', ')} |`);

    // The checks.
    if (stats.byClass['5xx'] !== 0 || stats.errors !== 0) problems.push(`${stats.byClass['5xx']} 5xx answers and ${stats.errors} failed requests`);
    if (perSecond < FLOOR_PER_SECOND) problems.push(`${grouped(perSecond)} calls/s answered, below ${grouped(FLOOR_PER_SECOND)}/s`);
    if (accepted.in_completed_runs !== stats.triggerIds.length) {
      problems.push(`${grouped(stats.triggerIds.length - accepted.in_completed_runs)} accepted calls' triggers are not in a completed run`);
    }
    for (const [name, r] of Object.entries(rssOf)) {
      if (Math.abs(r.change) > RSS_TOLERANCE) {
        problems.push(
          `${name}: RSS ${mb(r.reference)} MB after the first minute, ${mb(r.end)} MB at the end (${(100 * r.change).toFixed(1)}%; medians, see above)`,
        );
      }
    }
    if (problems.length) {
      console.error(`\nSOAK FAILED:\n${problems.join('\n')}`);
      process.exitCode = 1;
    } else {
      console.log(
        `\nsoak passed: no 5xx, ≥ ${grouped(FLOOR_PER_SECOND)} calls/s, every accepted call in a completed run, RSS at the end within ${100 * RSS_TOLERANCE}% of its value after ${RSS_REFERENCE_SECONDS} s`,
      );
      finished = true;
    }
  } finally {
    await client?.end();
    for (const s of started.reverse()) await s.stop();
    await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
    await deleteRedisPrefix(PREFIX);
    if (finished) rmSync(logDir, { recursive: true, force: true });
    else console.error(`logs kept in ${logDir}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
