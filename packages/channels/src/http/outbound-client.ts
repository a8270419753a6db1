import { lookup as dnsLookup } from 'node:dns';
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Agent, DecoratorHandler, type Dispatcher } from 'undici';
import type { OutboundHttp, OutboundRequest, OutboundResponse } from '../adapter';
import { createCheckedLookup, DestinationRefusedError } from './checked-lookup';
import { createDestinationPolicy } from './destination-policy';
import { OutboundError } from './outbound-error';
import { redactText, redactUrl } from './redact-url';

export interface OutboundClientOptions {
  /**
   * IPs, CIDRs (v4/v6) or exact hostnames allowed although the policy denies them (loopback,
   * private…): tests and on-premise receivers. An allowed hostname allows every address it
   * resolves to. Default: none.
   */
  allowedDestinations?: readonly string[];
  /** DNS resolution plus TCP (and TLS) connect. Default 5 s. */
  connectTimeoutMs?: number;
  /** Response headers and body together, from when the request is on its connection. Default 15 s. */
  responseTimeoutMs?: number;
  /** Pooled keep-alive connections per origin. Default 64. */
  maxConnectionsPerOrigin?: number;
  /** Longer bodies are cut at this many bytes (never an error). Default 1 MiB. */
  maxResponseBytes?: number;
  /** `dns.lookup`-compatible resolver (tests inject one). Default `dns.lookup`. */
  lookup?: LookupFunction;
}

export type OutboundClient = OutboundHttp & { close(): Promise<void> };

/**
 * The HTTP client every provider adapter sends through: one undici `Agent` of pooled keep-alive
 * connections, the destination policy enforced before any byte leaves, redirects never
 * followed, bounded time and bounded body. Throws only `OutboundError`.
 */
export function createOutboundClient(options: OutboundClientOptions = {}): OutboundClient {
  const connectTimeoutMs = positive(options.connectTimeoutMs ?? 5_000, 'connectTimeoutMs');
  const responseTimeoutMs = positive(options.responseTimeoutMs ?? 15_000, 'responseTimeoutMs');
  const maxResponseBytes = positive(options.maxResponseBytes ?? 1024 * 1024, 'maxResponseBytes');
  const policy = createDestinationPolicy(options.allowedDestinations);
  const agent = new Agent({
    // The checked lookup is the only resolution of a hostname: what it checked is what the socket connects to.
    connect: { timeout: connectTimeoutMs, lookup: createCheckedLookup(policy, options.lookup ?? dnsLookup) },
    connections: positive(options.maxConnectionsPerOrigin ?? 64, 'maxConnectionsPerOrigin'),
    pipelining: 1,
    // Below the 5 s idle timeout of most servers, so a pooled socket is not reused as the server closes it.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 30_000,
    // undici's own headers and body timers tick at ~1 s resolution: RequestDeadline replaces them.
    headersTimeout: 0,
    bodyTimeout: 0,
    maxRedirections: 0,
  });

  // Composed once: each request's deadline is found by its options object, which undici hands
  // unchanged from `request()` to the interceptor.
  const onSentOf = new WeakMap<object, () => void>();
  const dispatcher = agent.compose(
    (dispatch) => (dispatchOptions, handler) => dispatch(dispatchOptions, new SentNotifier(handler, onSentOf.get(dispatchOptions) ?? noop)),
  );

  async function request(outbound: OutboundRequest): Promise<OutboundResponse> {
    // 1. The static policy (scheme, credentials, literal IP, denied hostname), before anything is sent.
    const url = parseUrl(outbound.url);
    const check = policy.checkUrl(url);
    if (!check.ok) throw new OutboundError('refused', `destination refused: ${check.reason} (${redactUrl(url.href)})`);

    // 2. Send, the response clock starting once the request is on its connection.
    const deadline = new RequestDeadline(connectTimeoutMs, responseTimeoutMs);
    try {
      const options = {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: outbound.method,
        headers: outbound.headers,
        body: outbound.body ?? null,
        signal: deadline.signal,
      };
      onSentOf.set(options, deadline.sent);
      const response = await dispatcher.request(options);

      // 3. A redirect target was never checked: refuse it rather than follow it.
      if (response.statusCode >= 300 && response.statusCode < 400) {
        discard(response.body);
        throw new OutboundError('redirect', redirectMessage(url, response.statusCode, response.headers));
      }

      // 4. The body, cut at the limit.
      const body = await readCapped(response.body, maxResponseBytes);
      // undici frees the connection for its pool one turn after the body ends (setImmediate);
      // returning sooner hands the caller's next request a second, idle connection instead of this one.
      await nextTurn();
      return { status: response.statusCode, headers: flattenHeaders(response.headers), body };
    } catch (error) {
      if (error instanceof OutboundError) throw error;
      const expired = deadline.expired();
      if (expired) throw new OutboundError('timeout', `timeout: ${expired} (${redactUrl(url.href)})`);
      throw toOutboundError(error, url, connectTimeoutMs);
    } finally {
      deadline.clear();
    }
  }

  return { request, close: () => agent.close() };
}

/**
 * The time limits of one request, on native timers (precise to the millisecond):
 * - the response clock, `responseTimeoutMs` for headers and body together, starts when the
 *   request is written to its connection (`sent`);
 * - a hard cap of connect + response from the call covers the rest: waiting for a pooled
 *   connection, and a connect undici's own timer lets run late.
 */
class RequestDeadline {
  private readonly controller = new AbortController();
  private readonly hardCap: NodeJS.Timeout;
  private responseClock: NodeJS.Timeout | undefined;
  private reason: string | null = null;

  constructor(
    connectTimeoutMs: number,
    private readonly responseTimeoutMs: number,
  ) {
    const capMs = connectTimeoutMs + responseTimeoutMs;
    this.hardCap = setTimeout(() => this.expire(`no complete response within ${capMs} ms of the call`), capMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts the response clock; undici may call it again for a request it retries on a new connection. */
  readonly sent = (): void => {
    this.responseClock ??= setTimeout(
      () => this.expire(`no complete response within ${this.responseTimeoutMs} ms`),
      this.responseTimeoutMs,
    );
  };

  /** Why the request was aborted for time, or null when it was not. */
  expired(): string | null {
    return this.reason;
  }

  clear(): void {
    clearTimeout(this.hardCap);
    clearTimeout(this.responseClock);
  }

  private expire(reason: string): void {
    this.reason ??= reason;
    this.controller.abort();
  }
}

/** Passes every event through to undici's own handler, telling `onSent` when the request goes on a connection. */
class SentNotifier extends DecoratorHandler {
  constructor(
    private readonly handler: Dispatcher.DispatchHandlers,
    private readonly onSent: () => void,
  ) {
    super(handler);
  }

  onConnect(abort: (error?: Error) => void): void {
    this.onSent();
    this.handler.onConnect?.(abort);
  }
}

function noop(): void {}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new OutboundError('refused', 'destination refused: not a valid URL');
  }
}

function toOutboundError(error: unknown, url: URL, connectTimeoutMs: number): OutboundError {
  const where = redactUrl(url.href);
  if (error instanceof DestinationRefusedError) {
    return new OutboundError('refused', `destination refused: ${error.reason} (${where})`);
  }
  const code = errorCode(error);
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new OutboundError('timeout', `timeout: no connection within ${connectTimeoutMs} ms (${where})`);
    case 'ETIMEDOUT':
      return new OutboundError('timeout', `timeout: the connection timed out (${where})`);
    default: {
      // Resets, refusals, closed sockets, DNS failures — and whatever else kept the answer away.
      const detail = redactText(error instanceof Error ? error.message : String(error));
      return new OutboundError('network', `network error${code ? ` (${code})` : ''}: ${detail} (${where})`);
    }
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function redirectMessage(url: URL, status: number, headers: IncomingHttpHeaders): string {
  const location = typeof headers.location === 'string' ? headers.location : undefined;
  let target = '';
  if (location !== undefined) {
    try {
      target = ` to ${redactUrl(new URL(location, url).href)}`;
    } catch {
      target = ' to an invalid location';
    }
  }
  return `redirect refused: ${redactUrl(url.href)} answered ${status}${target}; redirects are not followed`;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * The body as UTF-8, cut after `maxBytes` (a character split by the cut is dropped). Cutting
 * destroys the stream, and with it the connection: reading the rest could take unbounded time.
 */
function readCapped(body: Readable, maxBytes: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let text = '';
    let received = 0;
    body.on('data', (chunk: Buffer) => {
      const room = maxBytes - received;
      if (chunk.length <= room) {
        received += chunk.length;
        text += decoder.write(chunk);
        return;
      }
      resolve(text + decoder.write(chunk.subarray(0, room)));
      discard(body);
    });
    body.on('end', () => resolve(text + decoder.end()));
    // Stays attached after a resolve: a destroyed body emits an error nobody else listens to.
    body.on('error', reject);
  });
}

function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}
