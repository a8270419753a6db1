import type { LookupAddress } from 'node:dns';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { LookupFunction } from 'node:net';
import { serveApp, type ServedApp } from '@herald/testing';
import { createOutboundClient, type OutboundClient, type OutboundClientOptions } from './outbound-client';
import { classifyOutboundError, OutboundError } from './outbound-error';

/**
 * The outbound client against real HTTP servers on loopback. Names other than loopback appear
 * only as URLs the policy refuses before connecting, or behind an injected `lookup`: nothing
 * here ever opens a connection off this machine.
 */

interface SeenRequest {
  method: string;
  path: string;
  host: string | undefined;
  remotePort: number | undefined;
}

interface RecordingServer extends ServedApp {
  requests: SeenRequest[];
  connections: () => number;
}

/** A loopback server (IPv4 and IPv6) that records every request and every TCP connection. */
async function startServer(handler: RequestListener = answerOk): Promise<RecordingServer> {
  const requests: SeenRequest[] = [];
  let connections = 0;
  const served = await serveApp((request: IncomingMessage, response: ServerResponse) => {
    requests.push({
      method: request.method ?? '',
      path: request.url ?? '',
      host: request.headers.host,
      remotePort: request.socket.remotePort,
    });
    handler(request, response);
  });
  served.server.on('connection', () => connections++);
  const server = { ...served, requests, connections: () => connections };
  servers.push(server);
  return server;
}

function answerOk(_request: IncomingMessage, response: ServerResponse): void {
  response.end('ok');
}

/** A resolver standing in for DNS: fixed answers per hostname, asynchronous like the real one. */
function fakeLookup(answers: Record<string, string[]>, calls: string[] = []): LookupFunction {
  return (hostname, options, callback) => {
    calls.push(hostname);
    setImmediate(() => {
      const addresses: LookupAddress[] = (answers[hostname] ?? []).map((address) => ({
        address,
        family: address.includes(':') ? 6 : 4,
      }));
      const first = addresses[0];
      if (!first) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      else if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

function client(options: OutboundClientOptions = {}): OutboundClient {
  const created = createOutboundClient(options);
  clients.push(created);
  return created;
}

async function failure(promise: Promise<unknown>): Promise<OutboundError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof OutboundError)) throw new Error(`expected an OutboundError, got ${String(error)}`);
  return error;
}

const get = (url: string) => ({ method: 'GET' as const, url, headers: {} });

let servers: RecordingServer[] = [];
let clients: OutboundClient[] = [];

afterEach(async () => {
  const [closingClients, closingServers] = [clients, servers];
  clients = [];
  servers = [];
  await Promise.all(closingClients.map((created) => created.close()));
  await Promise.all(closingServers.map((server) => server.close()));
});

describe('the destination policy of the outbound client', () => {
  it.each([
    ['http://127.0.0.1:PORT/', '127.0.0.1 is a loopback address'],
    ['http://[::1]:PORT/', '::1 is a loopback address'],
    ['http://localhost:PORT/', 'localhost is a loopback hostname'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address (cloud metadata lives there)'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata.google.internal is a cloud metadata hostname'],
    ['http://user:pw@example.com/', 'the URL carries credentials (user:password@host); send them in headers'],
    ['ftp://example.com/', 'scheme ftp: is not allowed (http and https only)'],
  ])('refuses %s by default, before any lookup or connection', async (template, reason) => {
    const server = await startServer();
    const lookups: string[] = [];
    const url = template.replace('PORT', String(server.port));
    const error = await failure(client({ lookup: fakeLookup({}, lookups) }).request(get(url)));
    expect(error.kind).toBe('refused');
    expect(error.message).toContain(`destination refused: ${reason} (`);
    expect(error.message).not.toContain('pw');
    expect(lookups).toEqual([]);
    expect(server.connections()).toBe(0);
    expect(server.requests).toEqual([]);
  });

  it.each([
    ['the metadata address', ['169.254.169.254'], [], '169.254.169.254 is a link-local address'],
    ['a private address', ['10.0.0.5'], [], '10.0.0.5 is a private address'],
    ['an IPv4-mapped loopback address', ['::ffff:127.0.0.1'], [], '::ffff:127.0.0.1 is a loopback address'],
    ['one allowed and one denied address', ['127.0.0.1', '10.0.0.5'], ['127.0.0.0/8'], '10.0.0.5 is a private address'],
  ])('refuses a hostname that resolves to %s', async (_case, addresses, allowedDestinations, reason) => {
    const server = await startServer();
    const http = client({ allowedDestinations, lookup: fakeLookup({ 'provider.test': addresses }) });
    const error = await failure(http.request(get(`http://provider.test:${server.port}/send`)));
    expect(error.kind).toBe('refused');
    expect(error.message).toContain(`destination refused: provider.test resolves to a refused address: ${reason}`);
    expect(server.connections()).toBe(0);
  });

  it.each(['127.0.0.1', '127.0.0.0/8'])('reaches a loopback server allowed as %s', async (allowed) => {
    const server = await startServer();
    const response = await client({ allowedDestinations: [allowed] }).request(get(`${server.url}/hello?x=1`));
    expect(response).toMatchObject({ status: 200, body: 'ok' });
    expect(server.requests.map((seen) => seen.path)).toEqual(['/hello?x=1']);
  });

  it('reaches an IPv6 loopback server allowed as ::1', async () => {
    const server = await startServer();
    const response = await client({ allowedDestinations: ['::1'] }).request(get(`http://[::1]:${server.port}/six`));
    expect(response).toMatchObject({ status: 200, body: 'ok' });
    expect(server.requests).toEqual([expect.objectContaining({ path: '/six', host: `[::1]:${server.port}` })]);
  });

  it('connects a hostname to the address it checked, keeping the Host header', async () => {
    const server = await startServer();
    const lookups: string[] = [];
    const http = client({
      allowedDestinations: ['127.0.0.0/8'],
      lookup: fakeLookup({ 'provider.test': ['127.0.0.1'] }, lookups),
    });
    const response = await http.request(get(`http://provider.test:${server.port}/send`));
    expect(response.status).toBe(200);
    expect(server.requests).toEqual([expect.objectContaining({ method: 'GET', path: '/send', host: `provider.test:${server.port}` })]);
    expect(lookups).toEqual(['provider.test']);
  });

  it('reaches every address of an allowed hostname', async () => {
    const server = await startServer();
    const http = client({ allowedDestinations: ['receiver.corp'], lookup: fakeLookup({ 'receiver.corp': ['127.0.0.1'] }) });
    await expect(http.request(get(`http://receiver.corp:${server.port}/`))).resolves.toMatchObject({ status: 200 });
  });

  it('never puts a Telegram token or an access token in its messages', async () => {
    const server = await startServer();
    const http = client({ lookup: fakeLookup({ 'api.telegram.org': ['10.0.0.5'], 'graph.test': ['169.254.169.254'] }) });
    const errors = [
      await failure(http.request(get('https://api.telegram.org/bot123456:ABC-DEF/sendMessage?chat_id=1'))),
      await failure(http.request(get(`http://127.0.0.1:${server.port}/bot123456:ABC-DEF/sendMessage`))),
      await failure(http.request(get('https://graph.test/v19.0/me/messages?access_token=EAAsecret'))),
    ];
    for (const error of errors) {
      expect(error.kind).toBe('refused');
      expect(error.message).not.toMatch(/123456|ABC-DEF|EAAsecret|access_token|chat_id/);
    }
    expect(errors[0]!.message).toBe(
      'destination refused: api.telegram.org resolves to a refused address: 10.0.0.5 is a private address ' +
        '(https://api.telegram.org/bot<redacted>/sendMessage)',
    );
    expect(classifyOutboundError(errors[1])).toEqual({
      outcome: 'connection_fault',
      code: 'destination_refused',
      message: `destination refused: 127.0.0.1 is a loopback address (http://127.0.0.1:${server.port}/bot<redacted>/sendMessage)`,
    });
    expect(server.connections()).toBe(0);
  });
});

describe('the outbound client', () => {
  const allowLoopback = { allowedDestinations: ['127.0.0.1'] };

  it('sends the method, headers and body and returns status, lower-case headers and the body', async () => {
    const server = await startServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        response.setHeader('X-Multi', ['a', 'b']);
        response.setHeader('Content-Type', 'text/plain; charset=utf-8');
        response.statusCode = 201;
        response.end(`${request.method} ${request.headers['content-type']} ${body} é`);
      });
    });
    const response = await client(allowLoopback).request({
      method: 'POST',
      url: `${server.url}/messages`,
      headers: { 'Content-Type': 'application/json' },
      body: '{"text":"héllo"}',
    });
    expect(response.status).toBe(201);
    expect(response.body).toBe('POST application/json {"text":"héllo"} é');
    expect(response.headers['x-multi']).toBe('a, b');
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('reuses one keep-alive connection for requests to the same origin', async () => {
    const server = await startServer();
    const http = client(allowLoopback);
    await http.request(get(`${server.url}/one`));
    await http.request(get(`${server.url}/two`));
    await http.request(get(`${server.url}/three`));
    expect(server.requests.map((seen) => seen.path)).toEqual(['/one', '/two', '/three']);
    expect(new Set(server.requests.map((seen) => seen.remotePort)).size).toBe(1);
    expect(server.connections()).toBe(1);
  });

  it('never follows a redirect, and keeps the Location query out of the message', async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(302, { Location: '/target?token=SECRET' }).end();
    });
    const error = await failure(client(allowLoopback).request(get(`${server.url}/start?access_token=XYZ`)));
    expect(error.kind).toBe('redirect');
    expect(error.message).toBe(`redirect refused: ${server.url}/start answered 302 to ${server.url}/target; redirects are not followed`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requests.map((seen) => seen.path)).toEqual(['/start?access_token=XYZ']);
  });

  it('does not follow a redirect to the metadata address either', async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(301, { Location: 'http://169.254.169.254/latest/meta-data/?x=y' }).end();
    });
    const error = await failure(client(allowLoopback).request(get(`${server.url}/`)));
    expect(classifyOutboundError(error)).toEqual({
      outcome: 'connection_fault',
      code: 'redirect_refused',
      message: `redirect refused: ${server.url}/ answered 301 to http://169.254.169.254/latest/meta-data/; redirects are not followed`,
    });
  });

  it('times out a server that never answers within responseTimeoutMs', async () => {
    const server = await startServer(() => {});
    const started = Date.now();
    const error = await failure(client({ ...allowLoopback, responseTimeoutMs: 300 }).request(get(`${server.url}/`)));
    const elapsed = Date.now() - started;
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe(`timeout: no complete response within 300 ms (${server.url}/)`);
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(700);
  });

  it('times out a body that stalls', async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(200);
      response.write('partial');
    });
    const started = Date.now();
    const error = await failure(client({ ...allowLoopback, responseTimeoutMs: 300 }).request(get(`${server.url}/`)));
    expect(Date.now() - started).toBeLessThan(700);
    expect(classifyOutboundError(error)).toEqual({
      outcome: 'retry',
      code: 'timeout',
      message: `timeout: no complete response within 300 ms (${server.url}/)`,
    });
  });

  it('caps the time spent waiting for a pooled connection', async () => {
    const server = await startServer(() => {});
    const http = client({ ...allowLoopback, maxConnectionsPerOrigin: 1, connectTimeoutMs: 200, responseTimeoutMs: 300 });
    const started = Date.now();
    // The second request waits for the only connection, held by the first until its 300 ms run out.
    const [first, second] = await Promise.all([failure(http.request(get(`${server.url}/first`))), failure(http.request(get(`${server.url}/second`)))]);
    expect(first.message).toBe(`timeout: no complete response within 300 ms (${server.url}/first)`);
    expect(second.message).toBe(`timeout: no complete response within 500 ms of the call (${server.url}/second)`);
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('times out a connection that cannot be made (here: a lookup that never answers)', async () => {
    const http = client({ connectTimeoutMs: 200, lookup: () => {} });
    const started = Date.now();
    const error = await failure(http.request(get('https://stalled.test/bot1:SECRET/x')));
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe('timeout: no connection within 200 ms (https://stalled.test/bot<redacted>/x)');
    // undici's connect timer runs on its coarse (~0.5 s tick) clock: late, but bounded.
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('reports a server that destroys the socket as a network fault', async () => {
    const server = await startServer((request) => request.socket.destroy());
    const error = await failure(client(allowLoopback).request(get(`${server.url}/bot123456:ABC-DEF/sendMessage`)));
    expect(error.kind).toBe('network');
    expect(error.message).toMatch(/^network error \(UND_ERR_SOCKET\): other side closed/);
    expect(error.message).not.toContain('ABC-DEF');
    expect(classifyOutboundError(error)).toEqual({ outcome: 'retry', code: 'network', message: error.message });
  });

  it('reports a refused connection as a network fault', async () => {
    const server = await startServer();
    const closedUrl = server.url;
    await server.close();
    servers = servers.filter((served) => served !== server);
    const error = await failure(client(allowLoopback).request(get(`${closedUrl}/`)));
    expect(error.kind).toBe('network');
    expect(error.message).toMatch(/^network error \(ECONNREFUSED\)/);
  });

  it('reports a DNS failure as a network fault', async () => {
    const error = await failure(client({ lookup: fakeLookup({}) }).request(get('https://nowhere.test/')));
    expect(error.kind).toBe('network');
    expect(error.message).toBe('network error (ENOTFOUND): getaddrinfo ENOTFOUND nowhere.test (https://nowhere.test/)');
  });

  it('cuts a body longer than maxResponseBytes', async () => {
    const server = await startServer((request, response) => {
      if (request.url === '/utf8') response.end('ééé');
      else response.end('x'.repeat(3 * 1024 * 1024));
    });
    const small = client({ ...allowLoopback, maxResponseBytes: 1024 });
    expect((await small.request(get(`${server.url}/big`))).body).toBe('x'.repeat(1024));
    // Cut at 5 bytes, the third 'é' (2 bytes) is split: it is dropped, not mangled.
    const tiny = client({ ...allowLoopback, maxResponseBytes: 5 });
    expect((await tiny.request(get(`${server.url}/utf8`))).body).toBe('éé');
    const byDefault = client(allowLoopback);
    expect((await byDefault.request(get(`${server.url}/big`))).body).toHaveLength(1024 * 1024);
  });

  it('keeps a body of exactly maxResponseBytes whole', async () => {
    const server = await startServer((_request, response) => response.end('abcd'));
    const http = client({ ...allowLoopback, maxResponseBytes: 4 });
    expect((await http.request(get(`${server.url}/`))).body).toBe('abcd');
    expect((await http.request(get(`${server.url}/`))).body).toBe('abcd');
    expect(server.connections()).toBe(1);
  });
});
