import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChannelName } from '@herald/core';
import { fakeAnswers, type FakeAnswer, type FakeProvider, type FakeResponse } from './answers';
import { customRoute } from './routes/custom.route';
import { googleOauthRoute, googleRbmRoute } from './routes/google-rbm.route';
import { messengerRoute } from './routes/messenger.route';
import { telegramRoute } from './routes/telegram.route';
import { twilioRoute } from './routes/twilio.route';
import { whatsappCloudRoute } from './routes/whatsapp-cloud.route';
import { perTestFile } from '../per-file';
import { createFakeState, type FakeCredentials, type ParsedRequest, type ProviderRoute } from './state';

/** A request the fake received, as recorded. */
export interface FakeRequest extends ParsedRequest {
  /** `unknown` for a path no provider serves (answered 404). */
  provider: FakeProvider | 'unknown';
  /** `Date.now()` when the body had arrived. */
  receivedAt: number;
  /** The status answered; null while a slow answer is pending, or when the socket was destroyed. */
  answeredStatus: number | null;
}

export interface FakeProvidersOptions {
  /** Record every request in `requests` (default true). A benchmark turns it off. */
  record?: boolean;
}

/**
 * A channel connection (the shape of `ConnectionSettings` in `@herald/channels`) pointing at the
 * fake with the credentials it accepts; a fresh id each time, so adapters' caches start empty.
 */
export interface FakeConnection {
  id: string;
  channel: ChannelName;
  provider: FakeConnectionProvider;
  baseUrl: string;
  credentials: Record<string, string>;
}

export type FakeConnectionProvider = Exclude<FakeProvider, 'google_oauth'>;

const CHANNEL_OF: Readonly<Record<FakeConnectionProvider, ChannelName>> = {
  whatsapp_cloud: 'WhatsAppChannel',
  messenger: 'FacebookChannel',
  twilio: 'SMSChannel',
  telegram: 'TelegramChannel',
  google_rbm: 'RCSChannel',
  custom: 'CustomChannel',
};

export interface FakeProviders {
  /** `http://127.0.0.1:<port>`: every provider's API root (the custom endpoint lives under `/custom/`). */
  baseUrl: string;
  credentials: FakeCredentials;
  /** Every request received since start or the last `reset`, in arrival order. */
  readonly requests: readonly FakeRequest[];
  requestsOf(provider: FakeProvider): FakeRequest[];
  /** A connection of this provider to the fake (custom: its `baseUrl` is an endpoint under `/custom/`). */
  connectionFor(provider: FakeConnectionProvider): FakeConnection;
  /** The next requests of this provider get these answers, in order; then the default again. */
  script(provider: FakeProvider, ...answers: FakeAnswer[]): void;
  /** What this provider answers when nothing is scripted (initially `fakeAnswers.success`). */
  setDefault(provider: FakeProvider, answer: FakeAnswer): void;
  /** Invalidates every RBM access token issued so far (a revoked or expired token). */
  revokeTokens(): void;
  /**
   * Forgets recorded requests, scripts, defaults and the RBM message ids seen. Issued RBM
   * tokens stay valid, as Google's do, since adapters cache them across tests.
   */
  reset(): void;
  close(): Promise<void>;
}

const ROUTES: readonly ProviderRoute[] = [
  messengerRoute, // before WhatsApp: `/{version}/me/messages` also fits `/{version}/{id}/messages`
  whatsappCloudRoute,
  twilioRoute,
  telegramRoute,
  googleOauthRoute,
  googleRbmRoute,
  customRoute,
];

/** One request being answered: what `serve` needs, also after a slow answer's delay. */
interface Exchange {
  route: ProviderRoute;
  captures: string[];
  request: ParsedRequest;
  recorded: FakeRequest;
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

const NOT_SERVED: FakeResponse = { kind: 'response', status: 404, body: { error: 'no fake provider serves this path' } };

/**
 * One HTTP server on loopback speaking each provider's real protocol (paths, auth, bodies,
 * success and error answers), standing in for WhatsApp, Messenger, Twilio, Telegram, Google
 * RBM and a custom endpoint in tests and benchmarks. No per-request logging; recording is one
 * array push.
 */
export async function startFakeProviders(options: FakeProvidersOptions = {}): Promise<FakeProviders> {
  const record = options.record ?? true;
  const requests: FakeRequest[] = [];
  const scripts = new Map<FakeProvider, FakeAnswer[]>();
  const defaults = new Map<FakeProvider, FakeAnswer>();
  const pendingTimers = new Set<NodeJS.Timeout>();

  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => handle(incoming, outgoing, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state = createFakeState(baseUrl);

  function handle(incoming: IncomingMessage, outgoing: ServerResponse, rawBody: string): void {
    const request = parseRequest(incoming, rawBody);
    const { route, captures } = routeOf(request.path);
    const recorded: FakeRequest = {
      ...request,
      provider: route?.provider ?? 'unknown',
      receivedAt: Date.now(),
      answeredStatus: null,
    };
    if (record) requests.push(recorded);
    if (!route || !captures || request.method !== 'POST') {
      write(outgoing, recorded, NOT_SERVED);
      return;
    }
    const answer = scripts.get(route.provider)?.shift() ?? defaults.get(route.provider) ?? fakeAnswers.success;
    serve(answer, { route, captures, request, recorded, incoming, outgoing });
  }

  function serve(answer: FakeAnswer, exchange: Exchange): void {
    const { route, outgoing, recorded } = exchange;
    switch (answer.kind) {
      case 'success':
        return write(outgoing, recorded, route.succeed(exchange.request, exchange.captures, state));
      case 'response':
        return write(outgoing, recorded, answer);
      case 'rate_limit':
        return write(outgoing, recorded, route.rateLimited(answer.retryAfterSeconds));
      case 'server_error':
        return write(outgoing, recorded, route.serverError(answer.status));
      case 'redirect':
        return write(outgoing, recorded, {
          kind: 'response',
          status: answer.status,
          body: '',
          headers: { Location: answer.location },
        });
      case 'slow': {
        const timer = setTimeout(() => {
          pendingTimers.delete(timer);
          serve(answer.then, exchange);
        }, answer.delayMs);
        pendingTimers.add(timer);
        return;
      }
      case 'destroy':
        exchange.incoming.socket.destroy();
        return;
    }
  }

  return {
    baseUrl,
    credentials: state.credentials,
    requests,
    requestsOf: (provider) => requests.filter((request) => request.provider === provider),
    connectionFor: (provider) => ({
      id: randomUUID(),
      channel: CHANNEL_OF[provider],
      provider,
      baseUrl: provider === 'custom' ? `${baseUrl}/custom/herald` : baseUrl,
      credentials: { ...state.credentials[provider] },
    }),
    script(provider, ...answers) {
      const queue = scripts.get(provider) ?? [];
      queue.push(...answers);
      scripts.set(provider, queue);
    },
    setDefault(provider, answer) {
      defaults.set(provider, answer);
    },
    revokeTokens() {
      state.issuedTokens.clear();
    },
    reset() {
      requests.length = 0;
      scripts.clear();
      defaults.clear();
      state.rbmMessageIds.clear();
    },
    close() {
      for (const timer of pendingTimers) clearTimeout(timer);
      pendingTimers.clear();
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

function routeOf(path: string): { route?: ProviderRoute; captures?: string[] } {
  for (const route of ROUTES) {
    const captures = route.match(path);
    if (captures) return { route, captures };
  }
  return {};
}

function parseRequest(incoming: IncomingMessage, rawBody: string): ParsedRequest {
  const url = incoming.url ?? '/';
  const queryStart = url.indexOf('?');
  const path = queryStart < 0 ? url : url.slice(0, queryStart);
  const query = queryStart < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(queryStart + 1)));
  const contentType = incoming.headers['content-type'] ?? '';
  const request: ParsedRequest = { method: incoming.method ?? 'GET', path, query, headers: incoming.headers, rawBody };
  if (contentType.includes('json')) {
    try {
      request.json = JSON.parse(rawBody) as unknown;
    } catch {
      // left undefined: the provider's validation answers it
    }
  } else if (contentType.includes('application/x-www-form-urlencoded')) {
    request.form = Object.fromEntries(new URLSearchParams(rawBody));
  }
  return request;
}

function write(outgoing: ServerResponse, recorded: FakeRequest, response: FakeResponse): void {
  if (outgoing.destroyed) return; // the client gave up (its timeout) while a slow answer waited
  const isText = typeof response.body === 'string';
  const body = isText ? (response.body as string) : JSON.stringify(response.body);
  const headers: Record<string, string | number> = {
    'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    ...response.headers,
    'Content-Length': Buffer.byteLength(body),
  };
  outgoing.writeHead(response.status, headers);
  outgoing.end(body);
  recorded.answeredStatus = response.status;
}

/**
 * Registers beforeAll/afterAll/beforeEach: the fake providers for one test file, started once,
 * reset (recordings, scripts, defaults) before each test, closed at the end.
 */
export function useFakeProviders(options: FakeProvidersOptions = {}): { readonly current: FakeProviders } {
  return perTestFile('the fake providers exist', { start: () => startFakeProviders(options), reset: (fake) => fake.reset(), stop: (fake) => fake.close() });
}
