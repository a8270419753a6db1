// pnpm bench:dispatch — one dispatch of a broadcast over BENCH_CONTACTS (default 1,000,000)
// contacts, half of them matching a two-filter audience, by the real worker process: time until
// every delivery row is written, time until every chunk is handed to the channel queue, rows/s,
// and the worker's peak RSS (VmHWM). Then, as the
// baseline, a bare INSERT … SELECT of the same rows with a hand-written WHERE, and the ratio.
// BENCH_BACKENDS=services,embedded measures both backends in one run: the services (a worker
// process on Postgres and Redis) and the embedded one (`pnpm start`'s single process, PGlite
// inside; its RSS is the whole of Herald and its database).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import queuePackage from '../packages/queue/dist/index.js';
import {
  adminQuery,
  benchBackends,
  databaseUrl,
  deleteRedisPrefix,
  freePort,
  insertBroadcast,
  migrate,
  peakRssMb,
  REDIS_URL,
  startEmbeddedHerald,
  startProcess,
} from './support.mjs';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 1_000_000);
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const PREFIX = `herald-bench-${randomBytes(3).toString('hex')}`;
const AUDIENCE = {
  filters: [
    { field: 'tier', criteria: 'Equals', value: 'gold' },
    { field: 'age', criteria: 'GreaterThan', value: '30' },
  ],
  join: ['AND'],
};

async function seed(client) {
  const { botId, broadcastId } = await insertBroadcast(client, { audience: AUDIENCE });
  const started = Date.now();
  // Half gold and over 30 (even i), the rest silver or young; plus a few unrelated variables.
  await client.query(
    `INSERT INTO contacts (bot_id, bot_channel, user_id, first_name, variables)
     SELECT $1, 'TelegramChannel', 'u' || i, 'Name ' || i,
            jsonb_build_object('tier', CASE WHEN i % 2 = 0 THEN 'Gold' ELSE CASE WHEN i % 4 = 1 THEN 'gold' ELSE 'silver' END END,
                               'age', CASE WHEN i % 2 = 0 THEN 31 + i % 40 ELSE 18 + i % 10 END,
                               'city', 'City ' || (i % 100), 'joined', '2024-01-01')
     FROM generate_series(1, $2) AS i`,
    [botId, CONTACTS],
  );
  await client.query('ANALYZE contacts');
  console.log(`seeded ${CONTACTS} contacts in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await client.query(
    `INSERT INTO triggers (broadcast_id, method, request) VALUES ($1, 'GET', '{"mode":"audience","audience":null,"set_variables":{},"payload":null}')`,
    [broadcastId],
  );
  return broadcastId;
}

/**
 * Arms the dispatch as the hook would and waits for it: rows written, chunks enqueued. Then the
 * baseline INSERT … SELECT on the same database. `rssPid` is the process whose peak RSS counts.
 */
async function measure(label, client, producer, broadcastId, rssPid) {
  const started = Date.now();
  let rowsWritten;
  await producer.armTimer('broadcast.dispatch', { broadcastId }, 0); // what the hook does, due now
  // Rows are all written when the (only) trigger is marked dispatched: its deliveries commit
  // with that mark. Chunks are all enqueued when the run leaves 'dispatching'.
  for (;;) {
    const {
      rows: [state],
    } = await client.query(`SELECT t.status AS trigger, r.status AS run FROM triggers t LEFT JOIN runs r ON r.id = t.run_id WHERE t.broadcast_id = $1`, [
      broadcastId,
    ]);
    if (rowsWritten === undefined && state.trigger === 'dispatched') rowsWritten = (Date.now() - started) / 1000;
    if (state.run && state.run !== 'dispatching') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const elapsed = (Date.now() - started) / 1000;
  const {
    rows: [{ n }],
  } = await client.query(`SELECT count(*)::int AS n FROM deliveries`);
  const counts = await producer.queue('deliver-telegram').getJobCounts('waiting');
  const rss = peakRssMb(rssPid);
  console.log(
    `${label} dispatch: ${n} deliveries written in ${rowsWritten.toFixed(1)} s; all ${counts.waiting} chunks enqueued at ${elapsed.toFixed(1)} s (${Math.round(n / elapsed)} rows/s end to end); peak RSS ${rss} MB`,
  );

  // Baseline: the same rows, a bare INSERT … SELECT with a hand-written condition.
  const {
    rows: [run],
  } = await client.query(`INSERT INTO runs (broadcast_id, status) VALUES ($1, 'completed') RETURNING id`, [broadcastId]);
  const baselineStarted = Date.now();
  const inserted = await client.query(
    `INSERT INTO deliveries (run_id, contact_id, channel)
     SELECT $1, id, bot_channel FROM contacts
     WHERE lower(variables->>'tier') = 'gold' AND (variables->>'age')::int > 30
     ON CONFLICT DO NOTHING`,
    [run.id],
  );
  const baseline = (Date.now() - baselineStarted) / 1000;
  console.log(`${label} bare INSERT … SELECT: ${inserted.rowCount} rows in ${baseline.toFixed(1)} s (${Math.round(inserted.rowCount / baseline)} rows/s)`);
  console.log(
    `${label} ratio herald/bare: rows written ${(rowsWritten / baseline).toFixed(2)}x the time, chunks enqueued too ${(elapsed / baseline).toFixed(2)}x`,
  );
  return { rowsWritten, elapsed, rss, deliveries: n };
}

/** The services: a worker process on this machine's Postgres (a scratch database) and Redis. */
async function onServices() {
  const url = databaseUrl(DB_NAME);
  try {
    if ((await migrate(url)) !== 0) throw new Error('migrations failed');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const broadcastId = await seed(client);
      const port = await freePort();
      const worker = await startProcess(
        'apps/worker/dist/main.js',
        {
          DATABASE_URL: url,
          REDIS_URL,
          QUEUE_PREFIX: PREFIX,
          WORKER_PORT: String(port),
          HOST: '127.0.0.1',
          // The dispatch alone: delivery would consume the chunks this bench counts, and compete with it.
          WORKER_QUEUES: 'dispatch,maintenance',
        },
        port,
      );
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      const producer = new queuePackage.JobProducer(queuePackage.redisQueueBackend(redis, PREFIX));
      try {
        return await measure('services', client, producer, broadcastId, worker.child.pid);
      } finally {
        await producer.close();
        redis.disconnect();
        await worker.stop();
      }
    } finally {
      await client.end();
    }
  } finally {
    await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
    await deleteRedisPrefix(PREFIX);
  }
}

/** The embedded backend: `pnpm start`'s one process, its database and queues in PGlite. */
async function onEmbedded() {
  const herald = await startEmbeddedHerald({ WORKER_QUEUES: 'dispatch,maintenance' });
  try {
    const client = new pg.Client({ connectionString: herald.url });
    await client.connect();
    const producer = new queuePackage.JobProducer(queuePackage.postgresQueueBackend(herald.url));
    try {
      const broadcastId = await seed(client);
      return await measure('embedded', client, producer, broadcastId, herald.child.pid);
    } finally {
      await producer.close();
      await client.end();
    }
  } finally {
    await herald.stop();
  }
}

const results = {};
for (const backend of benchBackends()) results[backend] = backend === 'services' ? await onServices() : await onEmbedded();
if (Object.keys(results).length > 1) {
  console.log(`\n| backend (${CONTACTS} contacts) | rows written | chunks enqueued | peak RSS |`);
  console.log('|---|---|---|---|');
  for (const [backend, r] of Object.entries(results)) console.log(`| ${backend} | ${r.rowsWritten.toFixed(1)} s | ${r.elapsed.toFixed(1)} s | ${r.rss} MB |`);
}
