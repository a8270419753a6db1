// Shared pieces of the benchmarks: scratch database and queue prefix, real child processes,
// autocannon runs. Benchmarks use the built code (`pnpm build` first) and the local services.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';
import testing from '../packages/testing/dist/index.js';
import herald from '../packages/db/dist/index.js';

export const { freePort } = testing;

/**
 * HERALD_SECRET_KEY of every process a bench starts (production requires one), and what seeds
 * a connection's credentials as the admin API stores them: sealed under it, so the worker and
 * the ingress pay for opening them as they do in production.
 */
const SECRET_KEY = randomBytes(32);
const SECRETS = herald.SecretKeyring.of(SECRET_KEY);
export function sealedCredentials(botId, channel, credentials) {
  return JSON.stringify(herald.sealCredentials(SECRETS, credentials, { botId, channel }));
}

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * The benches load one broadcast from one address as fast as it goes: what the hook's abuse
 * limits exist to stop. Out of reach here, so the counters still run (their cost is in the
 * figures) but never refuse a call. `pnpm bench:flood` measures the limits themselves.
 */
export const UNREACHED_HOOK_LIMITS = { HOOK_RATE_LIMIT_PER_ADDRESS: '100000000', HOOK_RATE_LIMIT_PER_BROADCAST: '100000000' };

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

/**
 * A bot and one broadcast of it, as the admin API would make them, on an open pg client:
 * `message`, `delayMs` and `audience` are the broadcast's. Returns their ids and the hook token.
 */
export async function insertBroadcast(client, { message = { text: 'hi' }, delayMs = 10_000, audience = { filters: [], join: [] } } = {}) {
  const sha = (s) => createHash('sha256').update(s).digest();
  // Only the token's digest and hint are stored (migration 2026-11-27T0500).
  const token = randomBytes(32).toString('base64url');
  const {
    rows: [bot],
  } = await client.query('INSERT INTO bots (name, api_token_sha256) VALUES ($1, $2) RETURNING id', ['bench', sha(randomBytes(16).toString('hex'))]);
  const {
    rows: [broadcast],
  } = await client.query(
    `INSERT INTO broadcasts (bot_id, name, message, delay_ms, audience, hook_token_sha256, hook_token_hint)
     VALUES ($1, 'bench', $2, $3, $4, $5, $6) RETURNING id`,
    [bot.id, JSON.stringify(message), delayMs, JSON.stringify(audience), sha(token), token.slice(-4)],
  );
  return { botId: bot.id, broadcastId: broadcast.id, token };
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
    env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'warn', HERALD_SECRET_KEY: SECRET_KEY.toString('base64'), ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}${readyPath}`).then(
      (r) => r.ok,
      () => false,
    );
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

/**
 * `pnpm start` on the embedded backend (apps/all-in-one): PGlite in a scratch data folder,
 * ingress, admin and worker in one process. Resolves once the ingress is ready, with the
 * database URL (its port fixed, so the bench can seed it) and the ports. `env` adds settings.
 */
export async function startEmbeddedHerald(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-bench-embedded-'));
  const [dbPort, ingressPort, adminPort, workerPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const process_ = await startProcess(
    'apps/all-in-one/dist/main.js',
    {
      HERALD_BACKEND: 'embedded',
      HERALD_DATA_DIR: join(dataDir, 'data'),
      EMBEDDED_DB_PORT: String(dbPort),
      INGRESS_PORT: String(ingressPort),
      ADMIN_PORT: String(adminPort),
      WORKER_PORT: String(workerPort),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: randomBytes(16).toString('hex'),
      PUBLIC_URL: `http://127.0.0.1:${ingressPort}`,
      ...UNREACHED_HOOK_LIMITS,
      ...env,
    },
    ingressPort,
  );
  return {
    ...process_,
    url: `postgres://postgres@127.0.0.1:${dbPort}/postgres`,
    ports: { ingress: ingressPort, admin: adminPort, worker: workerPort },
    stop: async () => {
      const code = await process_.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(`${join(dataDir, 'data')}.lock`, { force: true });
      return code;
    },
  };
}

/** Which backends a bench measures: BENCH_BACKENDS, a comma list of services and embedded. */
export function benchBackends(defaults = 'services') {
  const backends = (process.env.BENCH_BACKENDS ?? defaults)
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const backend of backends) if (!['services', 'embedded'].includes(backend)) throw new Error(`BENCH_BACKENDS: unknown backend ${backend}`);
  return backends;
}

/** Whether wrk (Debian package `wrk`) is on the PATH. */
export function hasWrk() {
  return spawnSync('wrk', ['--version']).error === undefined;
}

// wrk's Lua side: the request, and at the end one JSON line with what summarise() reports.
const WRK_SCRIPT = `
wrk.method = os.getenv("WRK_METHOD")
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE")
local extra = os.getenv("WRK_EXTRA_HEADER")
if extra and extra ~= "" then
  local name, value = extra:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"non2xx":%d,"errors":%d,"timeouts":%d,"durationUs":%d,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}\\n',
    summary.requests, e.status, e.connect + e.read + e.write, e.timeout, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
`;

/**
 * Saturation load with wrk, in summarise()'s shape. wrk is C: on a two-core machine it leaves
 * the server the CPU that autocannon (Node) would take, which is how the ingress is measured
 * at saturation. `non2xx` counts answers outside 2xx/3xx, as wrk does.
 */
/**
 * Saturation load with wrk, in summarise()'s shape. wrk is C: on a two-core machine it leaves
 * the server the CPU that autocannon (Node) would take, which is how the ingress is measured
 * at saturation. `non2xx` counts answers outside 2xx/3xx, as wrk does.
 */
export function runWrk(options) {
  const { args, env, cleanup } = wrkCommand(options);
  try {
    return wrkResult(execFileSync('wrk', args, { env, encoding: 'utf8' }));
  } finally {
    cleanup();
  }
}

/** runWrk without blocking this process's event loop, so other load can run beside it. */
export function runWrkInBackground(options) {
  const { args, env, cleanup } = wrkCommand(options);
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { env, encoding: 'utf8' }, (error, stdout) => {
      try {
        if (error) reject(error);
        else resolve(wrkResult(stdout));
      } finally {
        cleanup();
      }
    });
  });
}

/** `header` ("Name: value") is sent with every request, e.g. an X-Forwarded-For. */
function wrkCommand({ url, method = 'POST', body = '', contentType = 'application/json', header = '', connections, duration, threads = 2 }) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-wrk-'));
  const script = join(dir, 'request.lua');
  writeFileSync(script, WRK_SCRIPT);
  return {
    args: [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--timeout', '10s', '-s', script, url],
    env: { ...process.env, WRK_METHOD: method, WRK_BODY: body, WRK_CONTENT_TYPE: contentType, WRK_EXTRA_HEADER: header },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function wrkResult(output) {
  const line = output.split('\n').find((l) => l.startsWith('WRK_RESULT '));
  if (!line) throw new Error(`wrk printed no result:\n${output}`);
  const r = JSON.parse(line.slice('WRK_RESULT '.length));
  const ok2xx = r.requests - r.non2xx;
  return {
    requests: r.requests,
    ok2xx,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    rps: Math.round(ok2xx / (r.durationUs / 1e6)),
    p50: r.p50,
    p90: r.p90,
    p99: r.p99,
    max: r.max,
  };
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

/** CPU time a process has used so far (user + system, from /proc/<pid>/stat), in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 per second on Linux
}

/** CPU seconds so far of a process and its live children (a cluster primary and its workers). */
export function cpuSecondsOfTree(pid) {
  let total = cpuSeconds(pid);
  let children = '';
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    // the process ended meanwhile
  }
  for (const child of children.trim().split(/\s+/).filter(Boolean)) total += cpuSecondsOfTree(Number(child));
  return total;
}

/**
 * CPU seconds used so far by every live process whose command line contains `text`: e.g. the
 * Postgres backends serving one database (their process title names it).
 */
export function cpuSecondsMatching(text) {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) total += cpuSeconds(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/** The whole machine's CPU seconds so far, busy and idle (iowait counted idle), from /proc/stat. */
export function machineCpuSeconds() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = ticks[3] + ticks[4];
  const total = ticks.slice(0, 8).reduce((sum, t) => sum + t, 0); // guest time is already in user
  return { busy: (total - idle) / 100, total: total / 100 };
}
