// pnpm bench:ingress — accepted hook calls per second and latency of one real ingress process
// (Postgres + Redis, the built code), beside a bare Express route measured the same way.
//
// 1. saturation: 64 connections, BENCH_SECONDS (default 15) each → throughput; the load comes
//    from wrk when it is installed (Debian package `wrk`: C, so the two-core machine's CPU goes
//    to the server, not to the load generator), else from autocannon; BENCH_LOADGEN picks one;
// 2. a fixed offered rate below saturation (BENCH_RATE, default 1000 calls/s) → tail latency,
//    where queueing in the load generator does not dominate (see NOTES.md);
// then checks that every 200 left exactly one trigger row: nothing accepted was lost.
// BENCH_BODY=per-user sends a one-target call instead of the SPEC's audience example;
// BENCH_BACKENDS=services,embedded measures the embedded backend (`pnpm start`, one process
// with PGlite inside) beside the services one;
// BENCH_INGRESS_NODE_OPTIONS goes to the ingress alone (e.g. `--require` of a profiler).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import testing from '../packages/testing/dist/index.js';
import {
  adminQuery,
  benchBackends,
  cpuSecondsMatching,
  cpuSecondsOfTree,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  hasWrk,
  insertBroadcast,
  migrate,
  peakRssMb,
  REDIS_URL,
  runAutocannon,
  runWrk,
  startEmbeddedHerald,
  startProcess,
  summarise,
  UNREACHED_HOOK_LIMITS,
} from './support.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const CONNECTIONS = 64;
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
// A realistic call: the SPEC's two-filter example; or, with BENCH_BODY=per-user, the commonest
// high-volume use of a hook: one call per end user, with `targets` for that one contact.
const BODIES = {
  audience: testing.SPEC_EXAMPLE_HOOK_BODY,
  'per-user': { targets: [{ user_id: '3030391', bot_channel: 'telegram', variables: { order: 'A-17', total: '42.50' } }] },
};
const BODY_KIND = process.env.BENCH_BODY ?? 'audience';
if (!BODIES[BODY_KIND]) throw new Error(`BENCH_BODY must be one of ${Object.keys(BODIES).join(', ')}`);
const BODY = JSON.stringify(BODIES[BODY_KIND]);
// BENCH_INGRESS_PROCESSES: the ingress's INGRESS_PROCESSES (cluster workers sharing the port).
const PROCESSES = Number(process.env.BENCH_INGRESS_PROCESSES ?? 1);
const LOADGEN = process.env.BENCH_LOADGEN ?? (hasWrk() ? 'wrk' : 'autocannon');
if (!['wrk', 'autocannon'].includes(LOADGEN)) throw new Error('BENCH_LOADGEN must be wrk or autocannon');

async function seedBroadcast(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await insertBroadcast(client)).token;
  } finally {
    await client.end();
  }
}

async function load(port, path, extra = {}) {
  // The fixed-rate phase needs autocannon's overallRate; wrk only saturates.
  if (LOADGEN === 'wrk' && extra.overallRate === undefined) {
    return runWrk({ url: `http://127.0.0.1:${port}${path}`, body: BODY, connections: CONNECTIONS, duration: extra.duration ?? SECONDS });
  }
  return summarise(
    await runAutocannon({
      url: `http://127.0.0.1:${port}${path}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
      connections: CONNECTIONS,
      duration: SECONDS,
      ...extra,
    }),
  );
}

/** CPU seconds so far of the server process, of this database's Postgres backends, and of Redis. */
const cpuOf = (pid) => ({ server: cpuSecondsOfTree(pid), postgres: cpuSecondsMatching(DB_NAME), redis: cpuSecondsMatching('redis-server') });

async function measure(name, port, path, pid) {
  await load(port, path, { duration: 3 }); // warm-up: JIT, pools, caches
  const before = cpuOf(pid);
  const saturation = await load(port, path);
  const after = cpuOf(pid);
  // CPU per call says where the time goes when the machine's load makes the rates wander.
  saturation.cpuMsPerCall = Object.fromEntries(Object.keys(after).map((k) => [k, ((after[k] - before[k]) * 1000) / saturation.requests]));
  const fixedRate = await load(port, path, { overallRate: RATE });
  console.log(`${name}: saturation ${JSON.stringify(saturation)}`);
  console.log(`${name}: at ${RATE}/s ${JSON.stringify(fixedRate)}`);
  return { saturation, fixedRate };
}

/** The services: one ingress process (or INGRESS_PROCESSES of them) on Postgres and Redis. */
async function onServices() {
  const url = databaseUrl(DB_NAME);
  if ((await migrate(url)) !== 0) throw new Error('migrations failed');
  const token = await seedBroadcast(url);
  const ingressPort = await freePort();
  const ingress = await startProcess(
    'apps/ingress/dist/main.js',
    {
      DATABASE_URL: url,
      REDIS_URL,
      QUEUE_PREFIX: PREFIX,
      INGRESS_PORT: String(ingressPort),
      HOST: '127.0.0.1',
      DATABASE_POOL_SIZE: '20',
      INGRESS_PROCESSES: String(PROCESSES),
      ...UNREACHED_HOOK_LIMITS,
      ...(process.env.BENCH_INGRESS_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_INGRESS_NODE_OPTIONS } : {}),
    },
    ingressPort,
  );
  try {
    const result = await measure('herald ingress (services)', ingressPort, `/hooks/${token}`, ingress.child.pid);
    return { ...result, rss: peakRssMb(ingress.child.pid), triggers: await countTriggers(url) };
  } finally {
    await ingress.stop();
  }
}

/** The embedded backend: `pnpm start`'s one process (ingress, admin, worker and PGlite). */
async function onEmbedded() {
  const herald = await startEmbeddedHerald();
  try {
    const token = await seedBroadcast(herald.url);
    const result = await measure('herald ingress (embedded)', herald.ports.ingress, `/hooks/${token}`, herald.child.pid);
    return { ...result, rss: peakRssMb(herald.child.pid), triggers: await countTriggers(herald.url) };
  } finally {
    await herald.stop();
  }
}

async function countTriggers(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT count(*)::int AS n FROM triggers')).rows[0].n;
  } finally {
    await client.end();
  }
}

async function main() {
  const results = [];
  for (const backend of benchBackends()) results.push([`Herald ingress, ${backend}`, backend === 'services' ? await onServices() : await onEmbedded()]);

  const basePort = await freePort();
  const baseline = await startProcess('bench/baseline-express.mjs', { PORT: String(basePort) }, basePort);
  let bare;
  try {
    bare = await measure('bare express', basePort, '/hooks/x', baseline.child.pid);
  } finally {
    await baseline.stop();
  }

  console.log(`\nbody: ${BODY_KIND}, ingress processes: ${PROCESSES}, saturation load from ${LOADGEN}`);
  console.log('\n| | accepted calls/s at 64 conns | p50 ms | p99 ms | p99 ms at %d/s | CPU ms per call: server, Postgres, Redis | peak RSS |', RATE);
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, r] of [...results, ['bare Express 5', bare]]) {
    const cpu = r.saturation.cpuMsPerCall;
    console.log(
      `| ${name} | ${r.saturation.rps} | ${r.saturation.p50} | ${r.saturation.p99} | ${r.fixedRate.p99} | ${cpu.server.toFixed(3)}, ${cpu.postgres.toFixed(3)}, ${cpu.redis.toFixed(3)} | ${r.rss ?? '–'} MB |`,
    );
  }
  for (const [name, r] of results) {
    console.log(
      `\n${name}: ratio to bare Express ${(r.saturation.rps / bare.saturation.rps).toFixed(2)} (throughput); non-2xx ${r.saturation.non2xx + r.fixedRate.non2xx}, errors ${r.saturation.errors + r.fixedRate.errors}`,
    );
    // Warm-up calls were accepted too, so there are at least as many triggers as measured 200s.
    console.log(`triggers recorded: ${r.triggers} (measured 200s: ${r.saturation.ok2xx + r.fixedRate.ok2xx}, plus warm-up)`);
  }
}

try {
  await main();
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
  await deleteRedisPrefix(PREFIX);
}
