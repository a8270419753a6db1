import { fakeAnswers, type FakeConnectionProvider } from '@herald/testing';
import type { ChannelAdapter, OutboundHttp, OutboundMessage, OutboundRequest } from '../adapter';
import { createOutboundClient, type OutboundClient } from '../http/outbound-client';
import { outboundMessage, useAdapterFake } from '../testing/adapter-test-kit';
import { adapterFor } from './index';

/** What every adapter does alike: the registry, network faults, missing credentials, API roots. */

const PROVIDERS: readonly FakeConnectionProvider[] = ['whatsapp_cloud', 'messenger', 'twilio', 'telegram', 'google_rbm', 'custom'];

const kit = useAdapterFake();
/** Gives up long before the fake's slow answer. */
let impatient: OutboundClient;

beforeAll(() => {
  impatient = createOutboundClient({ allowedDestinations: ['127.0.0.0/8'], responseTimeoutMs: 150 });
});
afterAll(() => impatient.close());

function message(): OutboundMessage {
  return outboundMessage({ user_id: '393331111111', bot_channel: 'WhatsAppChannel', user_phone_number: '+393331111111' });
}

function adapter(provider: string): ChannelAdapter {
  const found = adapterFor(provider);
  if (!found) throw new Error(`no adapter for ${provider}`);
  return found;
}

/** Records the request instead of sending it: for URLs that must never be called from a test. */
function capturing(): OutboundHttp & { seen: OutboundRequest[] } {
  const seen: OutboundRequest[] = [];
  return { seen, request: async (request) => (seen.push(request), { status: 200, headers: {}, body: '{}' }) };
}

describe('adapterFor', () => {
  it.each(PROVIDERS)('has the %s adapter', (provider) => {
    expect(adapterFor(provider)?.provider).toBe(provider);
  });

  it('has none for web chat or an unknown provider', () => {
    expect(adapterFor('web')).toBeUndefined();
    expect(adapterFor('carrier_pigeon')).toBeUndefined();
  });
});

describe.each(PROVIDERS)('the %s adapter', (provider) => {
  it('sends to the fake', async () => {
    expect(await adapter(provider).send(kit.fake.connectionFor(provider), message(), kit.http)).toMatchObject({ outcome: 'sent' });
  });

  it('retries a slow answer past the client timeout as a timeout', async () => {
    kit.fake.script(provider, fakeAnswers.slow(1000));
    const result = await adapter(provider).send(kit.fake.connectionFor(provider), message(), impatient);
    expect(result).toMatchObject({ outcome: 'retry', code: 'timeout' });
  });

  it('retries a reset connection', async () => {
    kit.fake.script(provider, fakeAnswers.destroySocket);
    const result = await adapter(provider).send(kit.fake.connectionFor(provider), message(), kit.http);
    expect(result).toMatchObject({ outcome: 'retry', code: 'network' });
  });

  it('is a connection fault when answered with a redirect (never followed)', async () => {
    kit.fake.script(provider, fakeAnswers.redirect('http://127.0.0.1:1/elsewhere'));
    const result = await adapter(provider).send(kit.fake.connectionFor(provider), message(), kit.http);
    expect(result).toMatchObject({ outcome: 'connection_fault', code: 'redirect_refused' });
  });

  it('retries a 5xx, honouring Retry-After', async () => {
    kit.fake.script(provider, fakeAnswers.response(503, 'down for maintenance', { 'Retry-After': '30' }));
    const result = await adapter(provider).send(kit.fake.connectionFor(provider), message(), kit.http);
    expect(result).toMatchObject({ outcome: 'retry', retryAfterMs: 30_000 });
    expect(result).not.toHaveProperty('throttled');
  });

  it('names the missing credentials, not their values, and sends nothing', async () => {
    const connection = kit.fake.connectionFor(provider);
    const result = await adapter(provider).send({ ...connection, credentials: {} }, message(), kit.http);
    expect(result).toMatchObject({ outcome: 'connection_fault', code: 'missing_credentials' });
    for (const [name, value] of Object.entries(connection.credentials)) {
      if (name !== 'from') expect((result as { message: string }).message).toContain(name);
      expect((result as { message: string }).message).not.toContain(value);
    }
    expect(kit.fake.requests).toHaveLength(0);
  });
});

describe('API roots', () => {
  it.each([
    ['whatsapp_cloud', 'https://graph.facebook.com/v23.0/'],
    ['messenger', 'https://graph.facebook.com/v23.0/me/messages'],
    ['twilio', 'https://api.twilio.com/2010-04-01/Accounts/'],
    ['telegram', 'https://api.telegram.org/bot'],
  ])('%s defaults to its public API', async (provider, root) => {
    const http = capturing();
    await adapter(provider).send({ ...kit.fake.connectionFor(provider as FakeConnectionProvider), baseUrl: null }, message(), http);
    expect(http.seen[0]?.url.startsWith(root)).toBe(true);
  });

  it('google_rbm defaults to its public API (the token comes from the key file)', async () => {
    const http = capturing();
    http.request = async (request) => {
      http.seen.push(request);
      const body = request.url.endsWith('/token') ? { access_token: 'ya29.x', expires_in: 3600 } : {};
      return { status: 200, headers: {}, body: JSON.stringify(body) };
    };
    await adapter('google_rbm').send({ ...kit.fake.connectionFor('google_rbm'), baseUrl: null }, message(), http);
    expect(http.seen.map((request) => request.url.split('?')[0])).toEqual([
      `${kit.fake.baseUrl}/token`,
      'https://rcsbusinessmessaging.googleapis.com/v1/phones/%2B393331111111/agentMessages',
    ]);
  });

  it('custom needs its base_url', async () => {
    const result = await adapter('custom').send({ ...kit.fake.connectionFor('custom'), baseUrl: null }, message(), kit.http);
    expect(result).toMatchObject({ outcome: 'connection_fault', code: 'no_base_url' });
  });
});
