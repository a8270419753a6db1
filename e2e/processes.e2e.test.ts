import { networkInterfaces } from 'node:os';
import { sql } from 'kysely';
import {
  createBotRow,
  createBroadcastRow,
  freePort,
  PORT_VARIABLE,
  proxyInFrontOf,
  startProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  waitForHttp,
  type HeraldService,
  type StartedProcess,
} from '@herald/testing';

/**
 * The built processes, started as real child processes against this file's own database and
 * queue prefix: what `pnpm start` and docker compose run.
 */

describe('Herald processes', () => {
  const database = useTestDatabase();
  const started: StartedProcess[] = [];

  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')));
  });

  async function start(app: HeraldService, env: Record<string, string> = {}) {
    const port = await freePort();
    const process = startProcess(app, {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: testQueuePrefix(),
      ADMIN_API_KEY: 'e2e-admin-key-0123456789abcdef',
      HOST: '127.0.0.1',
      [PORT_VARIABLE[app]]: String(port),
      ...env,
    });
    started.push(process);
    return { process, port };
  }

  it.each(['ingress', 'admin', 'worker'] as const)('%s becomes ready on its port and exits 0 on SIGTERM', async (app) => {
    const { process, port } = await start(app);
    const ready = await waitForHttp(process, port, { path: '/readyz' });
    expect(await ready.json()).toEqual({ status: 'ready', backend: 'services', checks: { postgres: 'up', redis: 'up' } });

    const result = await process.stop('SIGTERM');
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    // The contract is "within 10 s"; in practice this takes tens of milliseconds.
    expect(result.elapsedMs).toBeLessThan(10_000);
    expect(process.output()).toContain('"message":"stopped"');
  });

  it('reports /readyz 503 naming Redis when Redis is unreachable, and still stops cleanly', async () => {
    const { process, port } = await start('ingress', { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const response = await waitForHttp(process, port, { path: '/readyz', status: 503 });
    expect(await response.json()).toMatchObject({ checks: { postgres: 'up', redis: 'down' } });
    expect((await process.stop('SIGTERM')).code).toBe(0);
  });

  it('keeps the ingress up while Postgres is away: 503 meanwhile, 200 again after, every 200 recorded', async () => {
    const { db } = database.current;
    const { proxy, url: viaProxy } = await proxyInFrontOf(database.current.url);
    try {
      const bot = await createBotRow(db);
      const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 60_000 });
      const { process, port } = await start('ingress', { DATABASE_URL: viaProxy });
      await waitForHttp(process, port, { path: '/readyz' });
      const hook = () => fetch(`http://127.0.0.1:${port}/hooks/${broadcast.hook_token}`, { method: 'POST' });
      // A stream of calls; Postgres is taken away in the middle of it, then given back.
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        if (i === 10) proxy.cut();
        if (i === 20) proxy.restore();
        const response = await hook();
        await response.arrayBuffer();
        statuses.push(response.status);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
      expect(statuses.slice(10, 20)).toEqual(Array(10).fill(503));
      expect(statuses.slice(20).filter((status) => status === 200).length).toBeGreaterThan(0);
      expect(process.child.exitCode).toBeNull(); // still running
      const { n } = await db
        .selectFrom('triggers')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('broadcast_id', '=', broadcast.id)
        .executeTakeFirstOrThrow();
      expect(Number(n)).toBe(statuses.filter((status) => status === 200).length);
    } finally {
      await proxy.close();
    }
  });

  it('on SIGTERM finishes the hook calls whose callers hung up before it closes its connections', async () => {
    const { db } = database.current;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id, { delay_ms: 60_000 });
    const { process, port } = await start('ingress');
    await waitForHttp(process, port, { path: '/readyz' });

    // A lock holds the calls' INSERTs while their callers give up and the ingress is told to
    // stop. Three calls apart: two INSERTs in flight (the most the ingress sends at once) and a
    // third waiting for one of them, which would start only after the server has closed.
    let unlock!: () => void;
    const locked = new Promise<void>((resolve) => (unlock = resolve));
    let lockHeld!: () => void;
    const holding = new Promise<void>((resolve) => (lockHeld = resolve));
    const lock = db.transaction().execute(async (trx) => {
      await sql`LOCK TABLE triggers IN EXCLUSIVE MODE`.execute(trx);
      lockHeld();
      await locked;
    });
    await holding;
    const caller = new AbortController();
    const calls = [];
    for (let i = 0; i < 3; i++) {
      calls.push(fetch(`http://127.0.0.1:${port}/hooks/${broadcast.hook_token}`, { method: 'POST', signal: caller.signal }).catch(() => 'hung up'));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    caller.abort();
    expect(await Promise.all(calls)).toEqual(Array(3).fill('hung up'));
    const stopped = process.stop('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the server has closed by now
    unlock();
    await lock;

    expect((await stopped).code).toBe(0);
    expect(process.output()).not.toContain('"level":"error"');
    // The calls went through to the end: their triggers are committed.
    const { n } = await db
      .selectFrom('triggers')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('broadcast_id', '=', broadcast.id)
      .executeTakeFirstOrThrow();
    expect(Number(n)).toBe(3);
  });

  it('refuses to start the admin API without a key, in development too, unless ADMIN_AUTH=disabled', async () => {
    const refused = startProcess('admin', { DATABASE_URL: database.current.url, ADMIN_PORT: String(await freePort()), NODE_ENV: 'development' });
    started.push(refused);
    expect((await refused.exited).code).toBe(1);
    expect(refused.output()).toContain('ADMIN_API_KEY is required');
    expect(refused.output()).toContain('set ADMIN_AUTH=disabled');
  });

  it('serves an admin API with ADMIN_AUTH=disabled on loopback only, whatever HOST says', async () => {
    const { process, port } = await start('admin', { HOST: '0.0.0.0', ADMIN_API_KEY: '', ADMIN_AUTH: 'disabled', NODE_ENV: 'development' });
    await waitForHttp(process, port, { path: '/readyz' });
    expect(process.output()).toMatch(/"host":"127\.0\.0\.1","level":"info","message":"admin listening"/);
    expect(process.output()).toContain('ADMIN_AUTH=disabled: the admin API needs no key, so it listens on 127.0.0.1 only');
    // From another address of this machine, nobody answers.
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (outside) await expect(fetch(`http://${outside}:${port}/v1/bots`)).rejects.toThrow();
    expect(
      (await fetch(`http://127.0.0.1:${port}/v1/bots`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"local"}' })).status,
    ).toBe(201);
  });

  it('refuses to start with a bad configuration, listing every problem at once', async () => {
    const process = startProcess('ingress', {
      DATABASE_URL: 'mysql://root@127.0.0.1/herald',
      INGRESS_PORT: '70000',
    });
    started.push(process);
    const result = await process.exited;
    expect(result.code).toBe(1);
    expect(process.output()).toMatch(/Invalid configuration:\n {2}- .*DATABASE_URL.*\n {2}- .*INGRESS_PORT/);
  });

  it('never writes the database password or admin key to its logs', async () => {
    const url = new URL(database.current.url);
    url.password = 'not-the-real-password';
    const { process, port } = await start('admin', { DATABASE_URL: url.toString(), LOG_LEVEL: 'debug' });
    await waitForHttp(process, port, { path: '/healthz' });
    await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { authorization: 'Bearer e2e-admin-key-0123456789abcdef' } });
    await process.stop('SIGTERM');
    expect(process.output()).not.toContain('not-the-real-password');
    expect(process.output()).not.toContain('e2e-admin-key-0123456789abcdef');
  });
});

describe('the migrate command', () => {
  const database = useTestDatabase({ migrated: false });

  it('applies every migration to an empty database, then reports them applied', async () => {
    const up = startProcess('migrate', { DATABASE_URL: database.current.url }, ['up']);
    expect((await up.exited).code).toBe(0);
    expect(up.output()).toContain('"message":"migrations applied"');

    const { rows } = await sql<{ count: string }>`
      SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'deliveries'`.execute(database.current.db);
    expect(rows[0]?.count).toBe('1');

    const status = startProcess('migrate', { DATABASE_URL: database.current.url }, ['status']);
    expect((await status.exited).code).toBe(0);
    expect(status.output()).toMatch(/^\d{4}-\d\d-\d\dT.*initial-schema$/m);
  });

  it('rejects an unknown command', async () => {
    const bad = startProcess('migrate', { DATABASE_URL: database.current.url }, ['sideways']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.output()).toContain('usage: migrate [up|down|status|secrets rotate|secrets status]');
  });
});
