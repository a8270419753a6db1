// pnpm bench:import — streams BENCH_IMPORT_ROWS (default 1,000,000) contacts to
// POST /v1/bots/:id/contacts/import of the real admin process, once as NDJSON and once as CSV,
// generated on the fly (the bench holds no file either): rows/s and the admin's peak RSS,
// which must not grow with the row count. Then, as the baseline, the same rows written by one
// INSERT … SELECT inside Postgres (no parsing, no wire): the floor an import can approach.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import pg from 'pg';
import { adminQuery, databaseUrl, freePort, migrate, peakRssMb, REDIS_URL, startProcess } from './support.mjs';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
const DB_NAME = `herald_bench_${randomBytes(3).toString('hex')}`;
const KEY = 'bench-admin-key-0123456789abcdef';

/** Rows as text lines, made as they are read, a thousand to a chunk. */
function lines(format, rows) {
  let i = 0;
  return Readable.from(
    (function* () {
      if (format === 'csv') yield 'bot_channel,user_id,first_name,tier,age,city\n';
      while (i < rows) {
        let chunk = '';
        for (let n = 0; n < 1000 && i < rows; n++, i++) {
          chunk +=
            format === 'csv'
              ? `telegram,u${i},"Name ${i}",${i % 2 ? 'gold' : 'silver'},${18 + (i % 60)},City ${i % 100}\n`
              : `${JSON.stringify({ bot_channel: 'telegram', user_id: `u${i}`, first_name: `Name ${i}`, variables: { tier: i % 2 ? 'gold' : 'silver', age: 18 + (i % 60), city: `City ${i % 100}` } })}\n`;
        }
        yield chunk;
      }
    })(),
  );
}

function upload(port, path, contentType, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': contentType } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

async function main() {
  const url = databaseUrl(DB_NAME);
  if ((await migrate(url)) !== 0) throw new Error('migrations failed');
  const port = await freePort();
  const admin = await startProcess(
    'apps/admin/dist/main.js',
    {
      DATABASE_URL: url,
      REDIS_URL,
      ADMIN_API_KEY: KEY,
      ADMIN_PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: 'http://127.0.0.1:3000',
      QUEUE_PREFIX: `herald-bench-${randomBytes(3).toString('hex')}`,
    },
    port,
  );
  const seconds = {};
  try {
    console.log(`admin RSS before: ${peakRssMb(admin.child.pid)} MB (peak so far)`);
    for (const [format, type] of [
      ['ndjson', 'application/x-ndjson'],
      ['csv', 'text/csv'],
    ]) {
      const bot = await fetch(`http://127.0.0.1:${port}/v1/bots`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench ${format}` }),
      }).then((r) => r.json());
      const started = Date.now();
      const result = await upload(port, `/v1/bots/${bot.id}/contacts/import`, type, lines(format, ROWS));
      seconds[format] = (Date.now() - started) / 1000;
      if (result.status !== 200) throw new Error(`import failed: ${result.status} ${result.body}`);
      console.log(
        `${format}: ${ROWS} rows in ${seconds[format].toFixed(1)} s (${Math.round(ROWS / seconds[format])} rows/s) → ${result.body}; admin peak RSS ${peakRssMb(admin.child.pid)} MB`,
      );
    }
  } finally {
    await admin.stop();
  }

  // Baseline: the same contacts written by Postgres alone, one INSERT … SELECT.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const {
      rows: [bot],
    } = await client.query(`INSERT INTO bots (name, api_token_sha256) VALUES ('baseline', sha256('baseline')) RETURNING id`);
    const started = Date.now();
    await client.query(
      `INSERT INTO contacts (bot_id, bot_channel, user_id, first_name, variables)
       SELECT $1, 'TelegramChannel', 'u' || i, 'Name ' || i,
              jsonb_build_object('tier', CASE WHEN i % 2 = 1 THEN 'gold' ELSE 'silver' END, 'age', 18 + i % 60, 'city', 'City ' || (i % 100))
       FROM generate_series(0, $2 - 1) AS i`,
      [bot.id, ROWS],
    );
    const baseline = (Date.now() - started) / 1000;
    console.log(`bare INSERT … SELECT of the same contacts: ${ROWS} rows in ${baseline.toFixed(1)} s (${Math.round(ROWS / baseline)} rows/s)`);
    console.log(`ratio import/bare: ndjson ${(seconds.ndjson / baseline).toFixed(2)}x the time, csv ${(seconds.csv / baseline).toFixed(2)}x`);
  } finally {
    await client.end();
  }
}

try {
  await main();
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
}
