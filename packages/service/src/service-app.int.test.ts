import type { Server } from 'node:http';
import express from 'express';
import winston from 'winston';
import { AppError } from '@herald/core';
import { createLogger } from '@herald/logger';
import { sql } from 'kysely';
import { createDb } from '@herald/db';
import { freePort, testQueuePrefix, useTestDatabase, TEST_REDIS_URL } from '@herald/testing';
import { openConnections, type Connections } from './connections';
import { boundPort, closeServer, listen } from './http-server';
import { createMetricsRegistry } from './metrics';
import { createServiceApp } from './service-app';

const SECURITY_HEADER_NAMES = ['x-content-type-options', 'x-frame-options', 'content-security-policy', 'referrer-policy', 'x-powered-by'];

const pick = (headers: Headers, names: string[]) => Object.fromEntries(names.map((name) => [name, headers.get(name)]));

const logger = createLogger({ service: 'test', transports: [new winston.transports.Console({ silent: true })] });

/** Serves a service app with the given connections on a free loopback port. */
async function serve(connections: Connections, routes?: (app: express.Express) => void) {
  const app = createServiceApp({ logger, checks: connections.checks, metrics: createMetricsRegistry('test'), routes });
  const server = await listen(app, 0, '127.0.0.1');
  return { server, url: `http://127.0.0.1:${boundPort(server)}` };
}

describe('service app probes against real Postgres and Redis', () => {
  const database = useTestDatabase();
  const opened: Connections[] = [];
  const servers: Server[] = [];

  async function start(overrides: { DATABASE_URL?: string; REDIS_URL?: string }, routes?: (app: express.Express) => void) {
    const connections = openConnections(
      {
        DATABASE_URL: database.current.url,
        REDIS_URL: TEST_REDIS_URL,
        DATABASE_POOL_SIZE: 2,
        QUEUE_BACKEND: 'redis',
        QUEUE_PREFIX: testQueuePrefix(),
        ...overrides,
      },
      logger,
      'test',
      'producer',
    );
    opened.push(connections);
    const served = await serve(connections, routes);
    servers.push(served.server);
    return served.url;
  }

  afterAll(async () => {
    await Promise.all(servers.map(closeServer));
    await Promise.all(opened.map((c) => c.close()));
  });

  it('ends every JSON answer with a newline, errors included', async () => {
    const url = await start({});
    for (const path of ['/healthz', '/readyz', '/no-such-route']) {
      const response = await fetch(`${url}${path}`);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.text()).toMatch(/^\{.*\}\n$/s);
    }
  });

  it('answers /healthz and /readyz 200 when Postgres and Redis are up', async () => {
    const url = await start({});
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    // ioredis connects asynchronously; the first probe may race it.
    let ready = await fetch(`${url}/readyz`);
    for (let i = 0; i < 20 && ready.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await fetch(`${url}/readyz`);
    }
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'up', redis: 'up' } });
  });

  it('answers /readyz 503 naming Redis when Redis is unreachable', async () => {
    const url = await start({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const response = await fetch(`${url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      status: 'unavailable',
      checks: { postgres: 'up', redis: 'down' },
      errors: { redis: expect.any(String) },
    });
    // Liveness does not depend on Redis.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers /readyz 503 naming Postgres when Postgres is unreachable', async () => {
    const url = await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/herald` });
    const response = await fetch(`${url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ checks: { postgres: 'down' }, errors: { postgres: expect.any(String) } });
  });

  it('serves Prometheus metrics', async () => {
    const url = await start({});
    const response = await fetch(`${url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toMatch(/^herald_process_resident_memory_bytes\{service="test"\} \d+/m);
  });

  it('turns errors into the JSON error body: AppError, bad JSON, unknown route, and anything else', async () => {
    const url = await start({}, (app) => {
      app.post('/echo', express.json({ limit: 64 }), (req, res) => {
        res.json(req.body);
      });
      app.get('/conflict', () => {
        throw new AppError(409, 'conflict', 'Already there', [{ path: 'name', message: 'taken', expected: 'a new name' }]);
      });
      app.get('/boom', () => {
        throw new Error('database password is hunter2');
      });
    });
    const post = (body: string) => fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    const conflict = await fetch(`${url}/conflict`);
    expect([conflict.status, await conflict.json()]).toEqual([
      409,
      { error: { code: 'conflict', message: 'Already there', details: [{ path: 'name', message: 'taken', expected: 'a new name' }] } },
    ]);

    const badJson = await post('{"a":');
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ error: { code: 'bad_request', details: [{ path: 'body' }] } });

    const tooLarge = await post(JSON.stringify({ text: 'x'.repeat(100) }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { code: 'payload_too_large' } });

    const missing = await fetch(`${url}/nowhere`);
    expect([missing.status, await missing.json()]).toEqual([404, { error: { code: 'not_found', message: 'No route for GET /nowhere', details: [] } }]);

    const boom = await fetch(`${url}/boom`);
    const body = (await boom.json()) as { error: { code: string; message: string } };
    expect(boom.status).toBe(500);
    expect(body.error.code).toBe('internal_error');
    expect(body.error.message).toMatch(/^Internal error; reference [0-9a-f-]{36}$/);
    expect(JSON.stringify(body)).not.toContain('hunter2');
  });

  it('answers 503 with Retry-After when the database is down, and 409 for a deadlock it lost', async () => {
    const { db } = database.current;
    const unreachable = createDb({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, connectTimeoutMs: 1_000 });
    await sql`CREATE TABLE deadlock_probe (id int PRIMARY KEY)`.execute(db);
    await sql`INSERT INTO deadlock_probe VALUES (1), (2)`.execute(db);
    let routeHoldsRowOne!: () => void;
    const rowOneHeld = new Promise<void>((resolve) => (routeHoldsRowOne = resolve));
    let testHoldsRowTwo!: () => void;
    const rowTwoHeld = new Promise<void>((resolve) => (testHoldsRowTwo = resolve));
    const url = await start({}, (app) => {
      app.get('/unreachable', async (_req, res) => {
        res.json(await sql`SELECT 1`.execute(unreachable));
      });
      // Row 1, then row 2, while the test takes row 2, then row 1: a real deadlock. The short
      // deadlock_timeout makes this transaction the one Postgres aborts.
      app.get('/deadlock', async (_req, res) => {
        await db.transaction().execute(async (trx) => {
          await sql`SET LOCAL deadlock_timeout = '50ms'`.execute(trx);
          await sql`SELECT id FROM deadlock_probe WHERE id = 1 FOR UPDATE`.execute(trx);
          routeHoldsRowOne();
          await rowTwoHeld;
          await sql`SELECT id FROM deadlock_probe WHERE id = 2 FOR UPDATE`.execute(trx);
        });
        res.json({ ok: true });
      });
    });
    try {
      const down = await fetch(`${url}/unreachable`);
      expect([down.status, down.headers.get('retry-after'), ((await down.json()) as { error: { code: string } }).error.code]).toEqual([
        503,
        '5',
        'service_unavailable',
      ]);

      const routeAnswer = fetch(`${url}/deadlock`);
      await rowOneHeld;
      const other = db.transaction().execute(async (trx) => {
        await sql`SET LOCAL deadlock_timeout = '10s'`.execute(trx);
        await sql`SELECT id FROM deadlock_probe WHERE id = 2 FOR UPDATE`.execute(trx);
        testHoldsRowTwo();
        await sql`SELECT id FROM deadlock_probe WHERE id = 1 FOR UPDATE`.execute(trx);
      });
      const lost = await routeAnswer;
      expect([lost.status, ((await lost.json()) as { error: { code: string } }).error.code]).toEqual([409, 'conflict']);
      await other; // the survivor gets both rows once the loser is rolled back
    } finally {
      await unreachable.destroy();
    }
  });

  it('sends the security headers on every answer: probes, metrics, routes, 404s and errors', async () => {
    const url = await start({}, (app) => {
      app.get('/ok', (_req, res) => {
        res.type('html').send('<p>hi</p>');
      });
      app.get('/refused', () => {
        throw new AppError(409, 'conflict', 'Already there');
      });
      app.get('/boom', () => {
        throw new Error('unexpected');
      });
    });
    for (const [path, status] of [
      ['/healthz', 200],
      ['/readyz', undefined], // 200 or 503 while ioredis connects: either carries them
      ['/metrics', 200],
      ['/ok', 200],
      ['/refused', 409],
      ['/boom', 500],
      ['/no-such-route', 404],
    ] as const) {
      const response = await fetch(`${url}${path}`);
      await response.arrayBuffer();
      if (status !== undefined) expect([path, response.status]).toEqual([path, status]);
      expect([path, pick(response.headers, SECURITY_HEADER_NAMES)]).toEqual([
        path,
        {
          'x-content-type-options': 'nosniff',
          'x-frame-options': 'DENY',
          'content-security-policy': "frame-ancestors 'none'",
          'referrer-policy': 'no-referrer',
          'x-powered-by': null,
        },
      ]);
    }
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const url = await start({});
    const kept = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'crm-call-17' } });
    expect(kept.headers.get('x-request-id')).toBe('crm-call-17');
    const replaced = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'bad id\twith tab' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
