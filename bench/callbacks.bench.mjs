// pnpm bench:callbacks — provider status callbacks per second accepted and recorded by one real
// ingress process (Postgres + Redis, the built code), beside a bare Express route measured the
// same way: the load of a broadcast's receipts coming back.
//
// Seeds (set-based) a WhatsApp Cloud connection and a completed run of BENCH_MESSAGES (default
// 200,000) messages sent, each known by its wamid in provider_messages. Then, 64 connections:
// 1. `delivered`: BENCH_SECONDS (default 20) of signed Meta status webhooks, one status per call
//    (as Meta sends them), each for a message not reported before, after a 3 s warm-up;
// 2. `read`: BENCH_READ_SECONDS (default 10; 0 skips it) of `read` statuses for the messages
//    answered `delivered`, in order (a repeat, should the phase outrun them).
// Then checks that what was accepted was recorded, exactly: every call answered 200 is on its
// delivery, the run's counters equal the rows, and the rows equal the ingress's own count of
// accepted calls (herald_callbacks_total, read once the ingress is idle: a call in flight when
// the load stops is accepted without its answer being seen). Fails (exit 1) on any difference,
// on any non-2xx, or when `delivered` calls/s is below the issue's floor (BENCH_FLOOR, 2,000).
// BENCH_INGRESS_NODE_OPTIONS goes to the ingress alone (e.g. `--require` of a profiler: Node
// refuses `--cpu-prof` in NODE_OPTIONS).
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import {
  adminQuery,
  cpuSeconds,
  cpuSecondsMatching,
  cpuSecondsOfTree,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  insertBroadcast,
  machineCpuSeconds,
  migrate,
  peakRssMb,
  REDIS_URL,
  ROOT,
  runAutocannon,
  sealedCredentials,
  startProcess,
  summarise,
} from './support.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 10);
const WARMUP_SECONDS = 3;
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const FLOOR = Number(process.env.BENCH_FLOOR ?? 2_000);
const CONNECTIONS = 64;
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
const APP_SECRET = randomBytes(16).toString('hex');
const WAMID = (i) => `wamid.bench-${i}`;

// Meta's status webhook (the fixture the adapter's tests use), its id, status and timestamp
// replaced per call: the template split around them, so a body costs two joins and an HMAC.
const FIXTURE = JSON.parse(readFileSync(join(ROOT, 'apps/ingress/src/callbacks/fixtures/whatsapp-status-delivered.json'), 'utf8'));
const status0 = FIXTURE.entry[0].changes[0].value.statuses[0];
Object.assign(status0, { id: '@@ID@@', status: '@@STATUS@@', timestamp: '@@TS@@' });
const TEMPLATE = JSON.stringify(FIXTURE).split(/"@@(?:ID|STATUS|TS)@@"/);
const ORDER = ['ID', 'STATUS', 'TS'].sort((a, b) => JSON.stringify(FIXTURE).indexOf(`@@${a}@@`) - JSON.stringify(FIXTURE).indexOf(`@@${b}@@`));
function statusBody(fields) {
  let body = TEMPLATE[0];
  for (let k = 0; k < ORDER.length; k++) body += JSON.stringify(fields[ORDER[k]]) + TEMPLATE[k + 1];
  return body;
}
const sign = (body) => `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;

/**
 * One phase's load: each call built by `next()` ({id, status}) and signed; the ids answered 200
 * collected in `answered` (autocannon keeps one context per connection, one call in flight each).
 */
async function load(port, path, duration, next, answered) {
  let other = 0;
  const result = await runAutocannon({
    url: `http://127.0.0.1:${port}${path}`,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        setupRequest: (request, context) => {
          const call = next();
          context.id = call.id;
          const body = statusBody({ ID: WAMID(call.id), STATUS: call.status, TS: String(Math.floor(Date.now() / 1000)) });
          return {
            ...request,
            method: 'POST',
            body,
            headers: { ...request.headers, 'content-type': 'application/json', 'x-hub-signature-256': sign(body) },
          };
        },
        onResponse: (status, _body, context) => {
          if (status === 200) answered?.push(context.id);
          else other++;
        },
      },
    ],
  });
  return { ...summarise(result), other };
}

/**
 * CPU seconds so far of the server process, of this database's Postgres backends, of Redis, and
 * of this process (autocannon: the load shares the two cores with what it measures).
 */
const cpuOf = (pid) => ({
  server: cpuSecondsOfTree(pid),
  postgres: cpuSecondsMatching(DB_NAME),
  redis: cpuSecondsMatching('redis-server'),
  loadgen: cpuSeconds(process.pid),
});

/** A measured phase: CPU per call, and how busy the whole machine was, beside the load's figures. */
async function measured(pid, run) {
  const before = cpuOf(pid);
  const machineBefore = machineCpuSeconds();
  const result = await run();
  const after = cpuOf(pid);
  const machineAfter = machineCpuSeconds();
  result.cpuMsPerCall = Object.fromEntries(Object.keys(after).map((k) => [k, ((after[k] - before[k]) * 1000) / result.requests]));
  result.machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total);
  return result;
}

async function seed(client) {
  const started = Date.now();
  const { botId, broadcastId } = await insertBroadcast(client);
  const {
    rows: [connection],
  } = await client.query(
    `INSERT INTO channel_connections (bot_id, channel, provider, credentials) VALUES ($1, 'WhatsAppChannel', 'whatsapp_cloud', $2) RETURNING id`,
    // The number the fixture's statuses name (metadata.phone_number_id): theirs to record.
    [
      botId,
      sealedCredentials(botId, 'WhatsAppChannel', {
        app_secret: APP_SECRET,
        verify_token: randomBytes(8).toString('hex'),
        phone_number_id: FIXTURE.entry[0].changes[0].value.metadata.phone_number_id,
      }),
    ],
  );
  const {
    rows: [run],
  } = await client.query(
    `INSERT INTO runs (broadcast_id, status, targeted, sent, delivering_at, finished_at) VALUES ($1, 'completed', $2, $2, now(), now()) RETURNING id`,
    [broadcastId, MESSAGES],
  );
  // Contact i is the WhatsApp user 15550000000 + i; its delivery's wamid is wamid.bench-<i>.
  await client.query(
    `INSERT INTO contacts (bot_id, bot_channel, user_id, first_name)
     SELECT $1, 'WhatsAppChannel', (15550000000 + i)::text, 'Name ' || i FROM generate_series(1, $2) AS i`,
    [botId, MESSAGES],
  );
  await client.query(
    `INSERT INTO deliveries (run_id, contact_id, channel, status, attempts, sent_at, provider_message_id)
     SELECT $1, c.id, 'WhatsAppChannel', 'sent', 1, now(), 'wamid.bench-' || (c.user_id::bigint - 15550000000)
     FROM contacts c WHERE c.bot_id = $2 ORDER BY c.id`,
    [run.id, botId],
  );
  await client.query(
    `INSERT INTO provider_messages (connection_id, provider_message_id, delivery_id)
     SELECT $1, provider_message_id, id FROM deliveries WHERE run_id = $2`,
    [connection.id, run.id],
  );
  await client.query('ANALYZE contacts, deliveries, provider_messages, runs, channel_connections');
  console.log(`seeded ${MESSAGES} messages sent in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { connectionId: connection.id, runId: run.id };
}

/**
 * The ingress's own counts: herald_callbacks_total by outcome (a call is counted accepted once
 * verified, before its receipts are written), and herald_receipts_applied_total by change (what
 * the written batches changed), null when the ingress does not export it.
 */
async function ingressCounts(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (name, label) => {
    const totals = {};
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      const key = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1];
      if (key !== undefined) totals[key] = (totals[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return totals;
  };
  return {
    calls: sum('herald_callbacks_total', 'outcome'),
    applied: text.includes('herald_receipts_applied_total') ? sum('herald_receipts_applied_total', 'change') : null,
  };
}

/** Waits until the ingress has answered every call it took: its counts stop moving. */
async function settledCounts(port) {
  let last = JSON.stringify(await ingressCounts(port));
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = JSON.stringify(await ingressCounts(port));
    if (now === last) return JSON.parse(now);
    last = now;
  }
  throw new Error('the ingress did not settle');
}

/** What Postgres recorded, and the ids answered 200 whose fact is missing from their delivery. */
async function recorded(client, runId, delivered, read) {
  const {
    rows: [r],
  } = await client.query(
    `SELECT (SELECT count(*) FROM deliveries WHERE run_id = $1 AND delivered_at IS NOT NULL)::int AS delivered_rows,
            (SELECT count(*) FROM deliveries WHERE run_id = $1 AND read_at IS NOT NULL)::int AS read_rows,
            (SELECT count(*) FROM pending_receipts)::int AS parked,
            (SELECT count(*) FROM unnest($2::text[]) AS a(wamid) JOIN provider_messages pm ON pm.provider_message_id = a.wamid
               JOIN deliveries d ON d.id = pm.delivery_id WHERE d.delivered_at IS NULL)::int AS lost_delivered,
            (SELECT count(*) FROM unnest($3::text[]) AS a(wamid) JOIN provider_messages pm ON pm.provider_message_id = a.wamid
               JOIN deliveries d ON d.id = pm.delivery_id WHERE d.read_at IS NULL)::int AS lost_read,
            ru.delivered AS run_delivered, ru.read AS run_read, ru.sent AS run_sent, ru.failed AS run_failed
     FROM runs ru WHERE ru.id = $1`,
    [runId, delivered.map(WAMID), read.map(WAMID)],
  );
  return r;
}

async function onIngress(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { connectionId, runId } = await seed(client);
    const port = await freePort();
    const ingress = await startProcess(
      'apps/ingress/dist/main.js',
      {
        DATABASE_URL: url,
        REDIS_URL,
        QUEUE_PREFIX: PREFIX,
        INGRESS_PORT: String(port),
        HOST: '127.0.0.1',
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        DATABASE_POOL_SIZE: '20',
        INGRESS_PROCESSES: '1',
        ...(process.env.BENCH_INGRESS_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_INGRESS_NODE_OPTIONS } : {}),
      },
      port,
    );
    const pid = ingress.child.pid;
    const path = `/callbacks/${connectionId}`;
    try {
      // `delivered`, each call a message not reported before (the warm-up's too).
      let nextId = 0;
      const deliveredOk = [];
      const nextDelivered = () => ({ id: ++nextId, status: 'delivered' });
      const warmup = await load(port, path, WARMUP_SECONDS, nextDelivered, deliveredOk);
      const delivered = await measured(pid, () => load(port, path, SECONDS, nextDelivered, deliveredOk));
      console.log(`herald ingress, delivered: ${JSON.stringify(delivered)}`);
      const afterDelivered = await settledCounts(port);

      // `read`, for the messages answered delivered, in order (repeats once they are all read).
      let read;
      const readOk = [];
      if (READ_SECONDS > 0) {
        let k = 0;
        const nextRead = () => ({ id: deliveredOk[k++ % deliveredOk.length], status: 'read' });
        read = await measured(pid, () => load(port, path, READ_SECONDS, nextRead, readOk));
        read.repeats = Math.max(0, k - deliveredOk.length); // calls for a message already read
        console.log(`herald ingress, read: ${JSON.stringify(read)}`);
      }
      const final = await settledCounts(port);
      const rows = await recorded(client, runId, deliveredOk, readOk);
      return {
        delivered,
        read,
        rss: peakRssMb(pid),
        nonOk: warmup.other + delivered.other + (read?.other ?? 0),
        errors: warmup.errors + warmup.timeouts + delivered.errors + delivered.timeouts + (read ? read.errors + read.timeouts : 0),
        sentIds: nextId,
        deliveredOk: deliveredOk.length,
        readOk: readOk.length,
        acceptedDelivered: afterDelivered.calls.accepted ?? 0,
        acceptedTotal: final.calls.accepted ?? 0,
        refused: final.calls.refused ?? 0,
        applied: final.applied,
        rows,
      };
    } finally {
      await ingress.stop();
    }
  } finally {
    await client.end();
  }
}

async function onBaseline() {
  const port = await freePort();
  const baseline = await startProcess('bench/baseline-express.mjs', { PORT: String(port) }, port);
  try {
    // The same signed bodies to its JSON route: parsed and answered 200, nothing verified or kept.
    let nextId = 0;
    const next = () => ({ id: ++nextId, status: 'delivered' });
    await load(port, '/hooks/x', WARMUP_SECONDS, next);
    const result = await measured(baseline.child.pid, () => load(port, '/hooks/x', SECONDS, next));
    console.log(`bare express: ${JSON.stringify(result)}`);
    return { delivered: result, rss: peakRssMb(baseline.child.pid) };
  } finally {
    await baseline.stop();
  }
}

async function main() {
  const url = databaseUrl(DB_NAME);
  if ((await migrate(url)) !== 0) throw new Error('migrations failed');
  const herald = await onIngress(url);
  const bare = await onBaseline();

  const bodyBytes = Buffer.byteLength(statusBody({ ID: WAMID(MESSAGES), STATUS: 'delivered', TS: '1750263773' }));
  console.log(
    `\none status per call (${bodyBytes} B body, signed), ${CONNECTIONS} connections, ${SECONDS} s (read: ${READ_SECONDS} s), ingress processes: 1, load from autocannon`,
  );
  console.log('\n| | phase | calls/s (200s) | p50 ms | p99 ms | max ms | CPU ms per call: server, Postgres, Redis, load generator | machine busy | peak RSS |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const row = (name, phase, r, rss) => {
    const cpu = r.cpuMsPerCall;
    console.log(
      `| ${name} | ${phase} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.max} | ${cpu.server.toFixed(3)}, ${cpu.postgres.toFixed(3)}, ${cpu.redis.toFixed(3)}, ${cpu.loadgen.toFixed(3)} | ${Math.round(r.machineBusy * 100)} % | ${rss} MB |`,
    );
  };
  row('Herald ingress, /callbacks', 'delivered', herald.delivered, herald.rss);
  if (herald.read) row('Herald ingress, /callbacks', `read${herald.read.repeats ? ` (${herald.read.repeats} repeats)` : ''}`, herald.read, herald.rss);
  row('bare Express 5', 'JSON 200', bare.delivered, bare.rss);

  const { rows } = herald;
  console.log(
    `\nratio to bare Express ${(herald.delivered.rps / bare.delivered.rps).toFixed(2)} (throughput); non-2xx ${herald.nonOk}, socket errors/timeouts ${herald.errors}, refused by the ingress ${herald.refused}`,
  );
  console.log(
    `delivered: answered 200 ${herald.deliveredOk} (warm-up included), accepted by the ingress ${herald.acceptedDelivered}, rows delivered ${rows.delivered_rows}, run.delivered ${rows.run_delivered}; answered but not recorded ${rows.lost_delivered}`,
  );
  const acceptedRead = herald.acceptedTotal - herald.acceptedDelivered;
  if (herald.read) {
    console.log(
      `read: answered 200 ${herald.readOk}, accepted by the ingress ${acceptedRead} (${herald.read.repeats} for a message already read), rows read ${rows.read_rows}, run.read ${rows.run_read}; answered but not recorded ${rows.lost_read}`,
    );
  }
  const { applied } = herald;
  if (applied) console.log(`the ingress's herald_receipts_applied_total: ${JSON.stringify(applied)}`);
  console.log(
    `run: sent ${rows.run_sent}, failed ${rows.run_failed} (targeted ${MESSAGES}); receipts parked ${rows.parked}; message ids used ${herald.sentIds} of ${MESSAGES}`,
  );

  const failures = [];
  if (herald.nonOk > 0) failures.push(`${herald.nonOk} calls answered other than 200`);
  if (rows.lost_delivered > 0 || rows.lost_read > 0) failures.push(`${rows.lost_delivered + rows.lost_read} calls answered 200 and not recorded`);
  if (rows.delivered_rows !== herald.acceptedDelivered) failures.push(`rows delivered ${rows.delivered_rows} ≠ accepted ${herald.acceptedDelivered}`);
  if (rows.run_delivered !== rows.delivered_rows) failures.push(`run.delivered ${rows.run_delivered} ≠ rows delivered ${rows.delivered_rows}`);
  if (applied && (applied.delivered ?? 0) !== rows.delivered_rows)
    failures.push(`applied delivered ${applied.delivered ?? 0} ≠ rows delivered ${rows.delivered_rows}`);
  if (rows.delivered_rows < herald.deliveredOk || rows.delivered_rows > herald.deliveredOk + 3 * CONNECTIONS) {
    failures.push(`rows delivered ${rows.delivered_rows} not within the 200s ${herald.deliveredOk} and those plus the calls in flight at each phase's end`);
  }
  if (herald.read) {
    // Each read call is for another message until they have all been read once: then repeats.
    if (herald.read.repeats === 0 ? rows.read_rows !== acceptedRead : rows.read_rows > acceptedRead)
      failures.push(`rows read ${rows.read_rows} ≠ accepted ${acceptedRead}`);
    if (applied && (applied.read ?? 0) !== rows.read_rows) failures.push(`applied read ${applied.read ?? 0} ≠ rows read ${rows.read_rows}`);
    if (rows.run_read !== rows.read_rows) failures.push(`run.read ${rows.run_read} ≠ rows read ${rows.read_rows}`);
  }
  if (rows.run_sent !== MESSAGES || rows.run_failed !== 0) failures.push("the run's sent/failed moved");
  if (rows.parked > 0) failures.push(`${rows.parked} receipts parked (more calls than BENCH_MESSAGES?)`);
  if (herald.delivered.rps < FLOOR) failures.push(`${herald.delivered.rps} delivered callbacks/s is below the floor of ${FLOOR}/s`);
  console.log(`\nfloor: ${FLOOR} callbacks/s accepted and recorded by one ingress process`);
  if (failures.length) {
    console.log(`FAIL: ${failures.join('; ')}`);
    process.exitCode = 1;
  } else console.log("OK: every accepted callback recorded, exactly once in the run's counters");
}

try {
  await main();
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
  await deleteRedisPrefix(PREFIX);
}
