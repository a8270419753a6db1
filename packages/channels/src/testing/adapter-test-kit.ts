import { randomUUID } from 'node:crypto';
import { startFakeProviders, type FakeConnection, type FakeConnectionProvider, type FakeProviders } from '@herald/testing';
import type { OutboundMessage, RecipientContact, SendResult } from '../adapter';
import { createOutboundClient, type OutboundClient } from '../http/outbound-client';

/** Test support (excluded from the build): what the adapter tests share. */

/** A classification without its message (each test checks the message against its own answer). */
export type Classified = { outcome: SendResult['outcome']; code: string; retryAfterMs?: number; throttled?: boolean; optOut?: string };

export interface AdapterFake {
  /** The fake provider server on loopback, reset after each test. */
  readonly fake: FakeProviders;
  /** The real outbound client, allowed to reach loopback (its policy refuses it otherwise). */
  readonly http: OutboundClient;
}

export interface AdapterFakeWithConnection extends AdapterFake {
  /** `fake.connectionFor(provider)`, new before each test: a fresh id, so no adapter cache (RBM token) carries over. */
  readonly connection: FakeConnection;
}

/**
 * Registers the hooks of an adapter test file: the fake providers and an outbound client in
 * beforeAll, the fake reset after each test, both closed after all; with a provider, also a
 * connection of it before each test. Read the getters inside tests and hooks only.
 */
export function useAdapterFake(provider: FakeConnectionProvider): AdapterFakeWithConnection;
export function useAdapterFake(): AdapterFake;
export function useAdapterFake(provider?: FakeConnectionProvider): AdapterFakeWithConnection {
  let fake: FakeProviders | undefined;
  let http: OutboundClient | undefined;
  let connection: FakeConnection | undefined;

  beforeAll(async () => {
    fake = await startFakeProviders();
    http = createOutboundClient({ allowedDestinations: ['127.0.0.0/8'] });
  });
  if (provider) {
    beforeEach(() => {
      connection = started(fake, 'fake').connectionFor(provider);
    });
  }
  afterEach(() => fake?.reset());
  afterAll(async () => {
    await http?.close();
    await fake?.close();
  });

  return {
    get fake() {
      return started(fake, 'fake');
    },
    get http() {
      return started(http, 'http');
    },
    get connection() {
      if (!provider) throw new Error('useAdapterFake() was given no provider: there is no connection');
      return started(connection, 'connection');
    },
  };
}

function started<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`the adapter fake's ${name} exists only inside tests (its hooks have not run)`);
  return value;
}

/**
 * One rendered message with fresh ids: `contact` needs only its address, the fields it leaves
 * out are null; `text` is 'hi' unless `overrides` says otherwise.
 */
export function outboundMessage(
  contact: Partial<RecipientContact> & Pick<RecipientContact, 'user_id' | 'bot_channel'>,
  overrides: Partial<OutboundMessage> = {},
): OutboundMessage {
  const { user_id, bot_channel, ...named } = contact;
  return {
    deliveryId: randomUUID(),
    runId: randomUUID(),
    broadcastId: randomUUID(),
    botId: randomUUID(),
    // every field of RecipientContact, in its order; those the caller leaves out are null
    contact: {
      user_id,
      bot_channel,
      user_phone_number: null,
      first_name: null,
      last_name: null,
      user_name: null,
      locale: null,
      ...named,
    },
    text: 'hi',
    ...overrides,
  };
}
