import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { Agent, type Dispatcher } from 'undici';
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
    // undici's own headers and body timers tick at ~1 s resolution: the Exchange's own timers replace them.
    headersTimeout: 0,
    bodyTimeout: 0,
    maxRedirections: 0,
  });

  // The URL checks of an origin without credentials give the same answer every time: kept, so
  // the hot path of a large run does not re-parse the same literal address per message.
  const checkedOrigins = new BoundedSet(1_000);

  async function request(outbound: OutboundRequest): Promise<OutboundResponse> {
    // 1. The static policy (scheme, credentials, literal IP, denied hostname), before anything is sent.
    const url = parseUrl(outbound.url);
    const cacheable = url.username === '' && url.password === '';
    if (!cacheable || !checkedOrigins.has(url.origin)) {
      const check = policy.checkUrl(url);
      if (!check.ok) throw new OutboundError('refused', `destination refused: ${check.reason} (${redactUrl(url.href)})`);
      if (cacheable) checkedOrigins.add(url.origin);
    }

    // 2. Send, on undici's dispatch API: the exchange gathers the answer itself (no stream, no
    //    AbortController per request), which is most of undici's cost on a small answer.
    return new Promise<OutboundResponse>((resolve, reject) => {
      const exchange = new Exchange({ url, connectTimeoutMs, responseTimeoutMs, maxResponseBytes }, resolve, reject);
      agent.dispatch(
        { origin: url.origin, path: `${url.pathname}${url.search}`, method: outbound.method, headers: outbound.headers, body: outbound.body ?? null },
        exchange,
      );
    });
  }

  return { request, close: () => agent.close() };
}

/**
 * One request's answer, gathered from undici's dispatch callbacks, and its time limits (native
 * timers, precise to the millisecond):
 * - the response clock, `responseTimeoutMs` for headers and body together, starts when the
 *   request is written to its connection (`onConnect`);
 * - a hard cap of connect + response from the call covers the rest: waiting for a pooled
 *   connection, and a connect undici's own timer lets run late.
 * A redirect is refused, not followed (its target was never checked); a body longer than
 * `maxResponseBytes` is cut (a character split by the cut is dropped) and its connection
 * destroyed, since reading the rest could take unbounded time.
 */
class Exchange implements Dispatcher.DispatchHandlers {
  private readonly hardCap: NodeJS.Timeout;
  private responseClock: NodeJS.Timeout | undefined;
  private abortRequest: ((error?: Error) => void) | undefined;
  private settled = false;
  private status = 0;
  private headers: Record<string, string> = {};
  private readonly decoder = new StringDecoder('utf8');
  private text = '';
  private received = 0;

  constructor(
    private readonly limits: { url: URL; connectTimeoutMs: number; responseTimeoutMs: number; maxResponseBytes: number },
    private readonly resolve: (response: OutboundResponse) => void,
    private readonly reject: (error: OutboundError) => void,
  ) {
    const capMs = limits.connectTimeoutMs + limits.responseTimeoutMs;
    this.hardCap = setTimeout(() => this.expire(`no complete response within ${capMs} ms of the call`), capMs);
  }

  /** The request goes on a connection (again, when undici retries it on a new one). */
  onConnect(abort: (error?: Error) => void): void {
    this.abortRequest = abort;
    if (this.settled) {
      abort(new Error('request already answered'));
      return;
    }
    this.responseClock ??= setTimeout(() => this.expire(`no complete response within ${this.limits.responseTimeoutMs} ms`), this.limits.responseTimeoutMs);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null, _resume: () => void, _statusText: string): boolean {
    if (statusCode >= 300 && statusCode < 400) {
      const headers = parseRawHeaders(rawHeaders);
      this.fail(new OutboundError('redirect', redirectMessage(this.limits.url, statusCode, headers.location)));
      this.abortRequest?.(new Error('redirect refused'));
      return false;
    }
    this.status = statusCode;
    this.headers = parseRawHeaders(rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return false;
    const room = this.limits.maxResponseBytes - this.received;
    if (chunk.length <= room) {
      this.received += chunk.length;
      this.text += this.decoder.write(chunk);
      return true;
    }
    this.text += this.decoder.write(chunk.subarray(0, room));
    this.succeed();
    this.abortRequest?.(new Error('response body cut at the size limit'));
    return false;
  }

  onComplete(): void {
    this.text += this.decoder.end();
    // Complete: no deadline applies any more, while the answer waits for the next turn below.
    this.clearTimers();
    // undici gives the connection back to its pool one turn after this (setImmediate); answering
    // sooner hands the caller's next request a second, idle connection instead of this one.
    process.nextTick(() => setImmediate(() => this.succeed()));
  }

  onError(error: Error): void {
    if (this.settled) return;
    this.fail(error instanceof OutboundError ? error : toOutboundError(error, this.limits.url, this.limits.connectTimeoutMs));
  }

  private succeed(): void {
    if (this.settled) return;
    this.settle();
    this.resolve({ status: this.status, headers: this.headers, body: this.text });
  }

  private fail(error: OutboundError): void {
    if (this.settled) return;
    this.settle();
    this.reject(error);
  }

  private settle(): void {
    this.settled = true;
    this.clearTimers();
  }

  private clearTimers(): void {
    clearTimeout(this.hardCap);
    clearTimeout(this.responseClock);
  }

  private expire(reason: string): void {
    this.fail(new OutboundError('timeout', `timeout: ${reason} (${redactUrl(this.limits.url.href)})`));
    // Before the request has a connection there is nothing to abort yet: onConnect aborts it.
    this.abortRequest?.(new Error(`timeout: ${reason}`));
  }
}

/** A set of at most `max` strings; when full, the oldest goes. */
class BoundedSet {
  private readonly items = new Set<string>();

  constructor(private readonly max: number) {}

  has(item: string): boolean {
    return this.items.has(item);
  }

  add(item: string): void {
    if (this.items.size >= this.max) this.items.delete(this.items.values().next().value!);
    this.items.add(item);
  }
}

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

function redirectMessage(url: URL, status: number, location: string | undefined): string {
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

/** undici's raw headers (name, value, name, value…) as lower-case names; repeated ones joined with ", ". */
function parseRawHeaders(raw: Buffer[] | string[] | null): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!raw) return headers;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString().toLowerCase();
    const value = raw[i + 1]!.toString();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}
