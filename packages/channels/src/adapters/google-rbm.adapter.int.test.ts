import { generateKeyPairSync } from 'node:crypto';
import { fakeAnswers, fakeErrors } from '@herald/testing';
import type { OutboundMessage } from '../adapter';
import { outboundMessage, useAdapterFake, type Classified } from '../testing/adapter-test-kit';
import { googleRbmAdapter, rbmMessageId } from './google-rbm.adapter';

const kit = useAdapterFake('google_rbm');

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage(
    { user_id: '393331111111', bot_channel: 'RCSChannel', user_phone_number: '+393331111111' },
    { text: 'Your table is ready', ...overrides },
  );
}

const send = (outbound = message(), to = kit.connection) => googleRbmAdapter.send(to, outbound, kit.http);

function serviceAccount(changes: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(kit.fake.credentials.google_rbm.service_account_json), ...changes });
}

describe('Google RBM adapter', () => {
  it('exchanges a signed service-account JWT for a token, then posts the message with it', async () => {
    const outbound = message();
    const result = await send(outbound);

    const [tokenRequest] = kit.fake.requestsOf('google_oauth');
    expect(tokenRequest?.answeredStatus).toBe(200); // the fake verified the RS256 signature and claims
    expect(tokenRequest?.form?.['grant_type']).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const [, claims] = tokenRequest!.form!['assertion']!.split('.');
    expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toMatchObject({
      iss: JSON.parse(kit.fake.credentials.google_rbm.service_account_json).client_email,
      scope: 'https://www.googleapis.com/auth/rcsbusinessmessaging',
      aud: `${kit.fake.baseUrl}/token`,
    });

    const [request] = kit.fake.requestsOf('google_rbm');
    const messageId = rbmMessageId(outbound.deliveryId);
    expect(request?.path).toBe('/v1/phones/%2B393331111111/agentMessages');
    expect(request?.query).toEqual({ messageId, agentId: kit.fake.credentials.google_rbm.agent_id });
    expect(request?.headers.authorization).toMatch(/^Bearer ya29\./);
    expect(request?.json).toEqual({ contentMessage: { text: 'Your table is ready' } });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: messageId });
  });

  it('fetches the token once and reuses it, even for concurrent sends', async () => {
    await Promise.all([send(), send()]);
    await send();
    expect(kit.fake.requestsOf('google_oauth')).toHaveLength(1);
    const tokens = new Set(kit.fake.requestsOf('google_rbm').map((request) => request.headers.authorization));
    expect(tokens.size).toBe(1);
    expect(kit.fake.requestsOf('google_rbm').map((request) => request.answeredStatus)).toEqual([200, 200, 200]);
  });

  it('fetches a new token when the key of the connection changes', async () => {
    await send();
    const rotated = { ...kit.connection, credentials: { ...kit.connection.credentials, service_account_json: serviceAccount({ private_key_id: 'rotated' }) } };
    await send(message(), rotated);
    expect(kit.fake.requestsOf('google_oauth')).toHaveLength(2);
  });

  it('gets a fresh token once when the cached one is rejected, keeping the messageId', async () => {
    await send();
    kit.fake.revokeTokens();
    const outbound = message();
    expect(await send(outbound)).toEqual({ outcome: 'sent', providerMessageId: rbmMessageId(outbound.deliveryId) });
    expect(kit.fake.requestsOf('google_oauth')).toHaveLength(2);
    expect(kit.fake.requestsOf('google_rbm').map((request) => request.answeredStatus)).toEqual([200, 401, 200]);
  });

  it('takes 409 ALREADY_EXISTS on a repeated messageId as sent: the first send got through', async () => {
    const outbound = message();
    await send(outbound);
    expect(await send(outbound)).toEqual({ outcome: 'sent', providerMessageId: rbmMessageId(outbound.deliveryId) });
    expect(kit.fake.requestsOf('google_rbm').map((request) => request.answeredStatus)).toEqual([200, 409]);
  });

  it('derives a stable v5-style UUID per delivery', () => {
    const id = rbmMessageId('delivery-1');
    expect(id).toBe(rbmMessageId('delivery-1'));
    expect(id).not.toBe(rbmMessageId('delivery-2'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  const catalog = fakeErrors.google_rbm;
  const expected: Record<keyof typeof catalog, Classified | 'sent'> = {
    notFound: { outcome: 'failed', code: 'NOT_FOUND' },
    resourceExhausted: { outcome: 'retry', code: 'RESOURCE_EXHAUSTED', throttled: true },
    unauthenticated: { outcome: 'connection_fault', code: 'UNAUTHENTICATED' },
    permissionDenied: { outcome: 'connection_fault', code: 'PERMISSION_DENIED' },
    invalidArgument: { outcome: 'failed', code: 'INVALID_ARGUMENT' },
    alreadyExists: 'sent',
    internal: { outcome: 'retry', code: 'INTERNAL' },
    unavailable: { outcome: 'retry', code: 'UNAVAILABLE' },
  };

  it.each(Object.keys(catalog) as Array<keyof typeof catalog>)('classifies the %s error from its body', async (name) => {
    kit.fake.script('google_rbm', catalog[name]);
    const outbound = message();
    const want = expected[name];
    const body = catalog[name].body as { error: { message: string } };
    expect(await send(outbound)).toEqual(
      want === 'sent' ? { outcome: 'sent', providerMessageId: rbmMessageId(outbound.deliveryId) } : { ...want, message: body.error.message },
    );
  });

  it('honours Retry-After on RESOURCE_EXHAUSTED', async () => {
    kit.fake.script('google_rbm', fakeAnswers.rateLimit(6));
    expect(await send()).toMatchObject({ outcome: 'retry', code: 'RESOURCE_EXHAUSTED', retryAfterMs: 6000, throttled: true });
  });

  it('is a connection fault when the token endpoint refuses the key, and sends nothing', async () => {
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const forged = { ...kit.connection, credentials: { ...kit.connection.credentials, service_account_json: serviceAccount({ private_key: otherKey }) } };
    expect(await send(message(), forged)).toEqual({
      outcome: 'connection_fault',
      code: 'invalid_grant',
      message: 'token request refused: invalid_grant (Invalid JWT Signature.)',
    });
    kit.fake.script('google_oauth', fakeErrors.google_oauth.invalidClient);
    expect(await send()).toMatchObject({ outcome: 'connection_fault', code: 'invalid_client' });
    expect(kit.fake.requestsOf('google_rbm')).toHaveLength(0);
  });

  it('retries when the token endpoint is down', async () => {
    kit.fake.script('google_oauth', fakeAnswers.serverError(503));
    expect(await send()).toMatchObject({ outcome: 'retry' });
    expect(await send()).toMatchObject({ outcome: 'sent' });
  });

  it('is a connection fault for an unreadable key file, naming the problem and not the key', async () => {
    const broken = { ...kit.connection, credentials: { ...kit.connection.credentials, service_account_json: serviceAccount({ private_key: 'garbage' }) } };
    expect(await send(message(), broken)).toEqual({
      outcome: 'connection_fault',
      code: 'invalid_credentials',
      message: 'service_account_json private_key is not a readable PEM key',
    });
    const notJson = { ...kit.connection, credentials: { ...kit.connection.credentials, service_account_json: '{' } };
    expect(await send(message(), notJson)).toMatchObject({ outcome: 'connection_fault', code: 'invalid_credentials' });
    expect(kit.fake.requests).toHaveLength(0);
  });
});
