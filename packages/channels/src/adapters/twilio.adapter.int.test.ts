import { fakeAnswers, fakeErrors } from '@herald/testing';
import type { OutboundMessage } from '../adapter';
import { outboundMessage, useAdapterFake, type Classified } from '../testing/adapter-test-kit';
import { twilioAdapter } from './twilio.adapter';

const kit = useAdapterFake('twilio');

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage({ user_id: '393331111111', bot_channel: 'SMSChannel' }, { text: 'Your code is 1234', ...overrides });
}

const send = (outbound = message(), to = kit.connection) => twilioAdapter.send(to, outbound, kit.http);

describe('Twilio adapter', () => {
  it('posts To, Body and From form-encoded to the account Messages.json with Basic auth', async () => {
    const result = await send();

    const [request] = kit.fake.requestsOf('twilio');
    const { account_sid: sid, auth_token: token, from } = kit.fake.credentials.twilio;
    expect(request?.path).toBe(`/2010-04-01/Accounts/${sid}/Messages.json`);
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request?.headers.authorization).toBe(`Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`);
    expect(request?.form).toEqual({ To: '+393331111111', Body: 'Your code is 1234', From: from });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/) });
  });

  it('sends through a Messaging Service when one is configured', async () => {
    const { from: _from, ...rest } = kit.connection.credentials;
    await send(message(), { ...kit.connection, credentials: { ...rest, messaging_service_sid: 'MG0123456789abcdef0123456789abcdef' } });
    expect(kit.fake.requestsOf('twilio')[0]?.form).toEqual({
      To: '+393331111111',
      Body: 'Your code is 1234',
      MessagingServiceSid: 'MG0123456789abcdef0123456789abcdef',
    });
  });

  it('names the missing sender without sending', async () => {
    const { from: _from, ...rest } = kit.connection.credentials;
    expect(await send(message(), { ...kit.connection, credentials: rest })).toEqual({
      outcome: 'connection_fault',
      code: 'missing_credentials',
      message: 'missing credentials: from or messaging_service_sid',
    });
    expect(kit.fake.requests).toHaveLength(0);
  });

  const catalog = fakeErrors.twilio;
  const expected: Record<keyof typeof catalog, Classified> = {
    authenticate: { outcome: 'connection_fault', code: '20003' },
    tooManyRequests: { outcome: 'retry', code: '20429', throttled: true },
    invalidTo: { outcome: 'failed', code: '21211' },
    unsubscribed: { outcome: 'failed', code: '21610', optOut: 'replied STOP (Twilio 21610)' },
    cannotRoute: { outcome: 'failed', code: '21612' },
    notMobile: { outcome: 'failed', code: '21614' },
    internalError: { outcome: 'retry', code: '20500' },
    serviceUnavailable: { outcome: 'retry', code: '20503' },
  };

  it.each(Object.keys(catalog) as Array<keyof typeof catalog>)('classifies the %s error from its body', async (name) => {
    kit.fake.script('twilio', catalog[name]);
    const body = catalog[name].body as { message: string };
    expect(await send()).toEqual({ ...expected[name], message: body.message });
  });

  it('honours Retry-After in seconds and as an HTTP date', async () => {
    kit.fake.script(
      'twilio',
      fakeAnswers.rateLimit(3),
      fakeAnswers.response(429, catalog.tooManyRequests.body, { 'Retry-After': new Date(Date.now() + 10_000).toUTCString() }),
    );
    expect(await send()).toMatchObject({ outcome: 'retry', code: '20429', retryAfterMs: 3000, throttled: true });
    const dated = await send();
    expect(dated).toMatchObject({ outcome: 'retry', throttled: true });
    const retryAfterMs = (dated as { retryAfterMs: number }).retryAfterMs;
    expect(retryAfterMs).toBeGreaterThan(8000);
    expect(retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('is a connection fault when Twilio rejects the auth token', async () => {
    const wrong = { ...kit.connection, credentials: { ...kit.connection.credentials, auth_token: 'not-the-token' } };
    expect(await send(message(), wrong)).toMatchObject({ outcome: 'connection_fault', code: '20003' });
  });

  it('addresses E.164 with its plus, or nobody', () => {
    const contact = message().contact;
    expect(twilioAdapter.recipient({ ...contact, user_phone_number: '39 333 111 1111' })).toBe('+393331111111');
    expect(twilioAdapter.recipient({ ...contact, user_phone_number: '0333 111 1111' })).toBeNull();
    expect(twilioAdapter.recipient({ ...contact, user_id: 'ada' })).toBeNull();
  });
});
