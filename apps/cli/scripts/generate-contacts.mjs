#!/usr/bin/env node
// Writes N contacts as NDJSON (default) or CSV to stdout, the rows bench/import.bench.mjs
// streams: a file for trying `herald contacts import` at scale, made in constant memory.
//
//   node apps/cli/scripts/generate-contacts.mjs 1000000 > contacts.ndjson        (~120 MB)
//   node apps/cli/scripts/generate-contacts.mjs 1000000 csv > contacts.csv
import { once } from 'node:events';

const rows = Number(process.argv[2] ?? 1_000_000);
const format = process.argv[3] ?? 'ndjson';
if (!Number.isInteger(rows) || rows < 1 || !['ndjson', 'csv'].includes(format)) {
  process.stderr.write('usage: generate-contacts.mjs [ROWS] [ndjson|csv]\n');
  process.exit(2);
}

if (format === 'csv') process.stdout.write('bot_channel,user_id,first_name,tier,age,city\n');
for (let i = 0; i < rows;) {
  let chunk = '';
  for (let n = 0; n < 1_000 && i < rows; n++, i++) {
    chunk +=
      format === 'csv'
        ? `telegram,u${i},"Name ${i}",${i % 2 ? 'gold' : 'silver'},${18 + (i % 60)},City ${i % 100}\n`
        : `${JSON.stringify({ bot_channel: 'telegram', user_id: `u${i}`, first_name: `Name ${i}`, variables: { tier: i % 2 ? 'gold' : 'silver', age: 18 + (i % 60), city: `City ${i % 100}` } })}\n`;
  }
  // Wait for the pipe to drain rather than buffer the whole file in memory.
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
}
