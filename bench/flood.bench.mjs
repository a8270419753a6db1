// pnpm bench:flood — does a flood from one address slow another broadcast's callers?
//
// One real ingress process (Postgres + Redis, the built code) behind a "proxy": it trusts
// 127.0.0.1's X-Forwarded-For, so the load generators can play different callers.
// - the victim: an integrator calling broadcast B from 198.51.100.9 at a steady BENCH_RATE
//   (default 200 calls/s, autocannon, one-target bodies), whose latency is what we report;
// - the flood: wrk, 64 connections as fast as they go, calling broadcast A from 203.0.113.7.
// Each configuration runs the victim alone, then the victim during the flood: first with the
// abuse limits at their defaults (HOOK_RATE_LIMIT_*: 10,000 calls per 10 s per address and per
// broadcast), then with them off, on a second ingress. Then checks that the flood's 429s
// recorded nothing: broadcast A's triggers equal the flood's 200s.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  adminQuery,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  hasWrk,
  insertBroadcast,
  migrate,
  REDIS_URL,
  runAutocannon,
  runWrkInBackground,
  startProcess,
  summarise,
} from './support.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
const BODY = JSON.stringify({ targets: [{ user_id: '3030391', bot_channel: 'telegram', variables: { order: 'A-17' } }] });
const VICTIM = '198.51.100.9';
const FLOODER = '203.0.113.7';

if (!hasWrk()) throw new Error('pnpm bench:flood needs wrk (Debian package `wrk`) for the flood');

function victim(port, token) {
  return runAutocannon({
    url: `http://127.0.0.1:${port}/hooks/${token}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': VICTIM },
    body: BODY,
    connections: 10,
    overallRate: RATE,
    duration: SECONDS,
  }).then(summarise);
}

function flood(port, token) {
  return runWrkInBackground({
    url: `http://127.0.0.1:${port}/hooks/${token}`,
    body: BODY,
    header: `X-Forwarded-For: ${FLOODER}`,
    connections: 64,
    duration: SECONDS,
  });
}

async function triggersOf(client, broadcastId) {
  return (await client.query('SELECT count(*)::int AS n FROM triggers WHERE broadcast_id = $1', [broadcastId])).rows[0].n;
}

async function measure(name, url, client, limits) {
  const target = await insertBroadcast(client); // the flood's
  const other = await insertBroadcast(client); // the victim's
  const port = await freePort();
  const ingress = await startProcess(
    'apps/ingress/dist/main.js',
    {
      DATABASE_URL: url,
      REDIS_URL,
      QUEUE_PREFIX: PREFIX,
      INGRESS_PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_POOL_SIZE: '20',
      TRUSTED_PROXIES: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...limits,
    },
    port,
  );
  try {
    await victim(port, other.token); // warm-up: JIT, pools, caches
    const alone = await victim(port, other.token);
    const [during, flooded] = await Promise.all([victim(port, other.token), flood(port, target.token)]);
    const recorded = await triggersOf(client, target.broadcastId);
    return { name, alone, during, flooded, recorded };
  } finally {
    await ingress.stop();
  }
}

async function main() {
  const url = databaseUrl(DB_NAME);
  if ((await migrate(url)) !== 0) throw new Error('migrations failed');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const results = [];
  try {
    results.push(await measure('limits at their defaults', url, client, {}));
    results.push(await measure('limits off', url, client, { HOOK_RATE_LIMIT_PER_ADDRESS: '0', HOOK_RATE_LIMIT_PER_BROADCAST: '0' }));
  } finally {
    await client.end();
  }

  const perSecond = (n) => Math.round(n / SECONDS);
  console.log(`\nvictim: ${RATE} calls/s to broadcast B from ${VICTIM}; flood: wrk, 64 connections, to broadcast A from ${FLOODER}; ${SECONDS} s each`);
  console.log('\n| ingress | victim alone p50 / p99 ms | victim during flood p50 / p99 ms | victim non-2xx during flood | flood 200/s | flood 429/s |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.alone.p50} / ${r.alone.p99} | ${r.during.p50} / ${r.during.p99} | ${r.during.non2xx + r.during.errors} | ${perSecond(r.flooded.ok2xx)} | ${perSecond(r.flooded.non2xx)} |`,
    );
  }
  for (const r of results) {
    console.log(`\n${r.name}: the flood got ${r.flooded.ok2xx} 200s and ${r.flooded.non2xx} others; broadcast A has ${r.recorded} triggers`);
    // wrk does not count the calls in flight when it stops (at most one per connection).
    if (r.recorded < r.flooded.ok2xx || r.recorded > r.flooded.ok2xx + 64) {
      throw new Error(`${r.name}: ${r.recorded} triggers for ${r.flooded.ok2xx} accepted calls`);
    }
  }
}

try {
  await main();
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
  await deleteRedisPrefix(PREFIX);
}
