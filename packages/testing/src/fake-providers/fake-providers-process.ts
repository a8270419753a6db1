/**
 * The fake providers in a process of their own (`node packages/testing/dist/fake-providers/
 * fake-providers-process.js`, so `pnpm build` must have run), for measurements that the test
 * or benchmark process would distort: a request is timestamped when the process's event loop
 * gets to it, so a receiver sharing the test's event loop (its garbage collections, its polling)
 * sees arrivals bunched by its own pauses, not as the senders sent them.
 *
 * A control server on PORT (loopback):
 *   GET  /readyz                     200 once the fake listens
 *   GET  /connection?provider=NAME   a connection to the fake (base URL, credentials)
 *   GET  /requests?provider=NAME     what that provider received (when recording)
 *   GET  /stats                      what the fake answered since start or the last reset
 *   POST /reset                      forgets requests and counts
 * FAKE_RECORD=0 keeps no request (a benchmark's mode); the counts of /stats cost one callback
 * per answer, on Node's diagnostics channel `http.server.response.finish` (FAKE_COUNT=0 leaves
 * it unsubscribed, to measure what counting costs).
 */
import { subscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { FakeProvider } from './answers';
import { startFakeProviders, type FakeConnectionProvider } from './fake-providers';

interface Stats {
  ok: number;
  other: number;
  firstAt: number | null;
  lastAt: number | null;
  keys: Set<string>;
}

async function main(): Promise<void> {
  const fake = await startFakeProviders({ record: process.env['FAKE_RECORD'] !== '0' });
  let stats: Stats = { ok: 0, other: 0, firstAt: null, lastAt: null, keys: new Set() };

  const control = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const provider = url.searchParams.get('provider') ?? 'custom';
    if (req.method === 'POST' && url.pathname === '/reset') {
      stats = { ok: 0, other: 0, firstAt: null, lastAt: null, keys: new Set() };
      fake.reset();
      return answer(res, { reset: true });
    }
    switch (url.pathname) {
      case '/readyz':
        return answer(res, { status: 'ready' });
      case '/connection':
        return answer(res, fake.connectionFor(provider as FakeConnectionProvider));
      case '/requests':
        return answer(res, fake.requestsOf(provider as FakeProvider));
      case '/stats': {
        const { keys, ...counts } = stats;
        return answer(res, { ...counts, distinctKeys: keys.size });
      }
      default:
        res.writeHead(404).end();
    }
  });

  // Each answer of the fake, counted once it is written; the control server's are not.
  const count = (message: unknown) => {
    const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server: unknown };
    if (server === control) return;
    const now = Date.now();
    if (response.statusCode !== 200) {
      stats.other++;
      return;
    }
    stats.ok++;
    stats.firstAt ??= now;
    stats.lastAt = now;
    const key = request.headers['idempotency-key'];
    if (typeof key === 'string') stats.keys.add(key);
  };
  if (process.env['FAKE_COUNT'] !== '0') subscribe('http.server.response.finish', count);

  control.listen(Number(process.env['PORT']), '127.0.0.1');
  process.on('SIGTERM', () => {
    control.close();
    void fake.close().then(() => process.exit(0));
  });
}

function answer(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

void main();
