// Shared pieces of the benchmarks: scratch database and queue prefix, real child processes,
// autocannon runs. Benchmarks use the built code (`pnpm build` first) and the local services.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';
import testing from '../packages/testing/dist/index.js';

export const { freePort } = testing;

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function databaseUrl(name) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function adminQuery(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Applies the migrations to `url` (creating the database) with the real migrate command. */
export function migrate(url) {
  const child = spawn(process.execPath, [join(ROOT, 'apps/migrate/dist/main.js'), 'up'], {
    env: { PATH: process.env.PATH, DATABASE_URL: url, LOG_LEVEL: 'warn' },
    stdio: 'inherit',
  });
  return new Promise((resolve) => child.once('exit', resolve));
}

/** Starts `node <script>` with env; resolves once GET <readyPath> on port answers 200. */
export async function startProcess(script, env, port, readyPath = '/readyz') {
  const child = spawn(process.execPath, [join(ROOT, script)], {
    env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}${readyPath}`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${script} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

export function runAutocannon(options) {
  return new Promise((resolve, reject) => {
    autocannon({ ...options }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

export async function deleteRedisPrefix(prefix) {
  const redis = new Redis(REDIS_URL);
  try {
    await testing.deleteKeysWithPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

export function summarise(result) {
  return {
    requests: result.requests.total,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: Math.round(result['2xx'] / result.duration),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
  };
}

/** A process's peak resident memory so far (VmHWM), in MB. */
export function peakRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024);
}
