import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { freePort, startProcess, testQueuePrefix, TEST_REDIS_URL, useTestDatabase, waitFor, type StartedProcess } from '@herald/testing';

/**
 * `pnpm start` (apps/all-in-one): ingress, admin and worker in one process. With nothing
 * configured it runs on the embedded database (PGlite in HERALD_DATA_DIR, the queues in it
 * too); with the service URLs, on Postgres and Redis; in production it never guesses.
 */

type Started = StartedProcess & { ports: { ingress: number; admin: number; worker: number } };

/** `pnpm start`'s process (built), on loopback ports of its own; in development mode unless `env` says. */
async function startHerald(env: Record<string, string>, ports?: Started['ports'], cwd?: string): Promise<Started> {
  const chosen = ports ?? { ingress: await freePort(), admin: await freePort(), worker: await freePort() };
  const started = startProcess(
    'all-in-one',
    {
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      INGRESS_PORT: String(chosen.ingress),
      ADMIN_PORT: String(chosen.admin),
      WORKER_PORT: String(chosen.worker),
      ...env,
    },
    [],
    cwd ? { cwd } : {},
  );
  return { ...started, ports: chosen };
}

async function untilReady(herald: Started): Promise<Array<Record<string, unknown>>> {
  return Promise.all(
    Object.values(herald.ports).map((port) =>
      waitFor(
        async () => {
          if (herald.child.exitCode !== null) throw new Error(`herald exited with ${herald.child.exitCode}:\n${herald.output()}`);
          const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
          return response?.status === 200 ? ((await response.json()) as Record<string, unknown>) : undefined;
        },
        // A startup wait, not a timing check: PGlite (Postgres in WebAssembly) boots and
        // migrates on the CPU the rest of the suite is using, and once took over 30 s in CI.
        { timeoutMs: 60_000, what: `/readyz on ${port}` },
      ),
    ),
  );
}

async function json<T>(response: Promise<Response>): Promise<T> {
  const answer = await response;
  const body = (await answer.json()) as T;
  if (!answer.ok) throw new Error(`${answer.status}: ${JSON.stringify(body)}`);
  return body;
}

/** The admin API's key, as the quick start's commands take it: from ./.env where `pnpm start` ran. */
let adminKey = '';
const authorization = (): Record<string, string> => (adminKey ? { authorization: `Bearer ${adminKey}` } : {});
const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...authorization() }, body: JSON.stringify(body) });
const get = (url: string) => fetch(url, { headers: authorization() });

interface Run {
  id: string;
  status: string;
  counts: { targeted: number };
  created_at: string;
}

describe('pnpm start on the embedded database', () => {
  let dataDir: string;
  const running: Started[] = [];
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'herald-embedded-'));
    adminKey = '';
  });
  afterEach(async () => {
    for (const herald of running.splice(0)) {
      if (herald.child.exitCode === null && herald.child.signalCode === null) herald.child.kill('SIGKILL');
      await herald.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(`${dataDir}.lock`, { force: true });
  });

  /** `pnpm start` in dataDir, where it keeps ./.env; then the key from there, as the README reads it. */
  async function start(ports?: Started['ports']): Promise<Started> {
    const herald = await startHerald({ HERALD_DATA_DIR: join(dataDir, 'data') }, ports, dataDir);
    running.push(herald);
    return herald;
  }
  const keyFromEnvFile = () => parseEnv(readFileSync(join(dataDir, '.env'), 'utf8'))['ADMIN_API_KEY'] ?? '';
  const runningLine = (herald: Started) =>
    JSON.parse(
      herald
        .output()
        .split('\n')
        .find((line) => line.includes('"message":"herald is running"')) ?? '{}',
    ) as Record<string, unknown>;

  it('runs the walk-through, keeps its data over a restart, and makes the run of a call accepted just before a kill -9', async () => {
    let herald = await start();
    const ready = await untilReady(herald);
    // No Postgres, no Redis: the one dependency is the embedded database.
    for (const body of ready) expect(body).toEqual({ status: 'ready', backend: 'embedded', checks: { postgres: 'up' } });
    const admin = `http://127.0.0.1:${herald.ports.admin}`;
    // No key anywhere: the first start generated one into ./.env, and nothing answers without it.
    expect(runningLine(herald)).toMatchObject({ adminAuth: 'required: ADMIN_API_KEY generated into ./.env' });
    expect(statSync(join(dataDir, '.env')).mode & 0o777).toBe(0o600);
    expect((await post(`${admin}/v1/bots`, { name: 'Shop bot' })).status).toBe(401);
    adminKey = keyFromEnvFile();
    expect(herald.output()).not.toContain(adminKey);

    const bot = await json<{ id: string }>(post(`${admin}/v1/bots`, { name: 'Shop bot' }));
    await json(
      post(`${admin}/v1/bots/${bot.id}/contacts`, {
        contacts: [
          { user_id: '42', bot_channel: 'telegram', first_name: 'Ada', variables: { favorite_color: 'red' } },
          { user_phone_number: '+39 333 111 1111', bot_channel: 'whatsapp', variables: { favorite_color: 'blue' } },
        ],
      }),
    );
    const broadcast = await json<{ id: string; hook_url: string }>(
      post(`${admin}/v1/bots/${bot.id}/broadcasts`, {
        name: 'Order update',
        message: { text: 'Hi {{first_name}}' },
        delay_ms: 500,
      }),
    );
    const hook = `http://127.0.0.1:${herald.ports.ingress}${new URL(broadcast.hook_url).pathname}`;
    const call = await post(hook, { audience_filters: 'favorite_color', audience_criteria: 'Equals', audience_values: 'red' });
    expect(call.status).toBe(200);

    const runsUrl = () => `http://127.0.0.1:${herald.ports.admin}/v1/broadcasts/${broadcast.id}/runs`;
    const [run] = await waitFor(
      async () => {
        const { data } = await json<{ data: Run[] }>(get(runsUrl()));
        return data.length === 1 && data[0]!.status === 'completed' ? data : undefined;
      },
      { timeoutMs: 15_000, what: 'the run to complete' },
    );
    expect(run!.counts.targeted).toBe(1);
    const deliveries = await json<{ data: Array<{ contact_id: string; status: string; reason: string | null }> }>(
      get(`${admin}/v1/runs/${run!.id}/deliveries`),
    );
    expect(deliveries.data).toHaveLength(1);
    const contacts = await json<{ data: Array<{ id: string; user_id: string | null }> }>(get(`${admin}/v1/bots/${bot.id}/contacts?user_id=42`)).catch(
      () => undefined,
    );
    if (contacts) expect(contacts.data.map((c) => c.id)).toContain(deliveries.data[0]!.contact_id);

    // A clean restart: everything is still there.
    herald.child.kill('SIGTERM');
    expect(await herald.exited).toEqual({ code: 0, signal: null });
    herald = await start(herald.ports);
    await untilReady(herald);
    // The same key, found in ./.env this time.
    expect(runningLine(herald)).toMatchObject({ adminAuth: 'required: ADMIN_API_KEY from ./.env' });
    expect(keyFromEnvFile()).toBe(adminKey);
    expect((await get(`${admin}/v1/bots/${bot.id}`)).status).toBe(200);
    expect((await json<{ data: Run[] }>(get(runsUrl()))).data.map((r) => r.id)).toEqual([run!.id]);

    // A call accepted, then the process killed before its timer fires: after a restart the
    // call still makes its run.
    expect((await post(hook, {})).status).toBe(200);
    herald.child.kill('SIGKILL');
    await herald.exited;
    herald = await start(herald.ports);
    await untilReady(herald);
    const runs = await waitFor(
      async () => {
        const { data } = await json<{ data: Run[] }>(get(runsUrl()));
        return data.length === 2 && data.every((r) => r.status === 'completed') ? data : undefined;
      },
      { timeoutMs: 30_000, what: 'the second run' },
    );
    expect(runs.find((r) => r.id !== run!.id)!.counts.targeted).toBe(2); // no filter: both contacts
  }, 240_000);

  it('says so loudly when a .env file left by another walk-through sets the admin key', async () => {
    // The Docker quick start writes ADMIN_API_KEY into ./.env; `pnpm start` in the same folder reads it.
    writeFileSync(join(dataDir, '.env'), 'ADMIN_API_KEY=key-from-the-docker-walk-through\n');
    const herald = await start();
    await untilReady(herald);
    expect(runningLine(herald)).toMatchObject({ adminAuth: 'required: ADMIN_API_KEY from ./.env' });
    const admin = `http://127.0.0.1:${herald.ports.admin}`;
    const keyless = await post(`${admin}/v1/bots`, { name: 'Shop bot' });
    expect(keyless.status).toBe(401);
    expect(((await keyless.json()) as { error: { message: string } }).error.message).toContain('.env file');
    const keyed = await fetch(`${admin}/v1/bots`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer key-from-the-docker-walk-through' },
      body: JSON.stringify({ name: 'Shop bot' }),
    });
    expect(keyed.status).toBe(201);
  }, 150_000);

  it('re-arms the timer: 100 concurrent calls make one run, started within 250 ms of the last call + delay', async () => {
    const herald = await start();
    await untilReady(herald);
    adminKey = keyFromEnvFile();
    const admin = `http://127.0.0.1:${herald.ports.admin}`;
    const bot = await json<{ id: string }>(post(`${admin}/v1/bots`, { name: 'Timer bot' }));
    await json(post(`${admin}/v1/bots/${bot.id}/contacts`, { contacts: [{ user_id: '1', bot_channel: 'telegram' }] }));
    const delayMs = 2_000;
    const broadcast = await json<{ id: string; hook_url: string }>(
      post(`${admin}/v1/bots/${bot.id}/broadcasts`, { name: 'Timer', message: { text: 'hi' }, delay_ms: delayMs }),
    );
    const hook = `http://127.0.0.1:${herald.ports.ingress}${new URL(broadcast.hook_url).pathname}`;

    let lastAccepted = 0;
    const statuses = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const response = await post(hook, {});
        lastAccepted = Math.max(lastAccepted, Date.now());
        return response.status;
      }),
    );
    expect(statuses).toEqual(Array(100).fill(200));
    const runs = await waitFor(
      async () => {
        const { data } = await json<{ data: Run[] }>(get(`${admin}/v1/broadcasts/${broadcast.id}/runs`));
        return data.length > 0 && data.every((r) => r.status === 'completed') ? data : undefined;
      },
      { timeoutMs: 20_000, what: 'the run' },
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // a second run would show by now
    const { data } = await json<{ data: Run[] }>(get(`${admin}/v1/broadcasts/${broadcast.id}/runs`));
    expect(data).toHaveLength(1);
    const lateBy = Date.parse(runs[0]!.created_at) - (lastAccepted + delayMs);
    console.log(`embedded timer: the run started ${lateBy} ms after last call + delay`);
    expect(Math.abs(lateBy)).toBeLessThanOrEqual(250);
  }, 150_000);
});

describe('pnpm start on Postgres and Redis', () => {
  const database = useTestDatabase({ migrated: false });

  it('migrates, serves all three ports on the services and stops with exit 0', async () => {
    const herald = await startHerald({
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: testQueuePrefix(),
      ADMIN_API_KEY: 'all-in-one-services-key-0123',
    });
    try {
      const ready = await untilReady(herald);
      for (const body of ready) expect(body).toEqual({ status: 'ready', backend: 'services', checks: { postgres: 'up', redis: 'up' } });
      expect(herald.output()).toContain('"message":"migrations applied"');
    } finally {
      herald.child.kill('SIGTERM');
    }
    expect(await herald.exited).toEqual({ code: 0, signal: null });
    expect(herald.output()).toContain('"message":"stopped"');
  }, 150_000);
});

describe('pnpm start in production', () => {
  it('refuses to pick a backend by itself and names the settings', async () => {
    const herald = await startHerald({ NODE_ENV: 'production' });
    expect((await herald.exited).code).toBe(1);
    expect(herald.output()).toMatch(/no backend is set.*HERALD_BACKEND=services with DATABASE_URL and REDIS_URL.*HERALD_BACKEND=embedded/);
  });
});
