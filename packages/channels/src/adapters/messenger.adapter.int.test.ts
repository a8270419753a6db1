import { fakeAnswers, fakeErrors } from '@herald/testing';
import type { OutboundMessage } from '../adapter';
import { outboundMessage, useAdapterFake, type Classified } from '../testing/adapter-test-kit';
import { messengerAdapter } from './messenger.adapter';

const kit = useAdapterFake('messenger');

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage({ user_id: '24000000000001', bot_channel: 'FacebookChannel', first_name: 'Ada' }, { text: 'Doors open at 9', ...overrides });
}

const send = (outbound = message(), to = kit.connection) => messengerAdapter.send(to, outbound, kit.http);

describe('Messenger adapter', () => {
  it('sends an UPDATE to /{version}/me/messages with the Page token in the header, never in the URL', async () => {
    const result = await send();

    const [request] = kit.fake.requestsOf('messenger');
    expect(request?.path).toBe('/v23.0/me/messages');
    expect(request?.query).toEqual({});
    expect(request?.headers.authorization).toBe(`Bearer ${kit.fake.credentials.messenger.page_access_token}`);
    expect(request?.json).toEqual({
      recipient: { id: '24000000000001' },
      messaging_type: 'UPDATE',
      message: { text: 'Doors open at 9' },
    });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: expect.stringMatching(/^m_/) });
  });

  it('sends a tagged message outside the window as MESSAGE_TAG', async () => {
    await send(message({ messageTag: 'CONFIRMED_EVENT_UPDATE' }));
    expect(kit.fake.requestsOf('messenger')[0]?.json).toMatchObject({
      messaging_type: 'MESSAGE_TAG',
      tag: 'CONFIRMED_EVENT_UPDATE',
    });
  });

  const catalog = fakeErrors.messenger;
  const expected: Record<keyof typeof catalog, Classified> = {
    invalidToken: { outcome: 'connection_fault', code: '190' },
    temporarySendFailure: { outcome: 'retry', code: '1200' },
    rateLimit: { outcome: 'retry', code: '613', throttled: true },
    serviceUnavailable: { outcome: 'retry', code: '2' },
    appRateLimit: { outcome: 'retry', code: '4', throttled: true },
    personUnavailable: { outcome: 'failed', code: '551', optOut: 'not available: blocked the page (Messenger 551)' },
    outsideWindow: { outcome: 'failed', code: '10' },
    invalidParameter: { outcome: 'failed', code: '100' },
  };

  it.each(Object.keys(catalog) as Array<keyof typeof catalog>)('classifies the %s error from its body', async (name) => {
    kit.fake.script('messenger', catalog[name]);
    const error = (catalog[name].body as { error: { message: string } }).error;
    expect(await send()).toEqual({ ...expected[name], message: expect.stringContaining(error.message) });
  });

  it('keeps the subcode with the message', async () => {
    kit.fake.script('messenger', catalog.outsideWindow);
    expect(await send()).toMatchObject({ message: expect.stringContaining('subcode 2018278') });
  });

  it('honours Retry-After on a rate limit', async () => {
    kit.fake.script('messenger', fakeAnswers.rateLimit(4));
    expect(await send()).toMatchObject({ outcome: 'retry', code: '613', retryAfterMs: 4000, throttled: true });
  });

  it('is a connection fault when the Page token is rejected', async () => {
    const wrong = { ...kit.connection, credentials: { page_access_token: 'EAABwrong' } };
    expect(await send(message(), wrong)).toMatchObject({ outcome: 'connection_fault', code: '190' });
  });

  it('cannot address a contact without a PSID', async () => {
    const contact = { ...message().contact, user_id: '  ' };
    expect(messengerAdapter.recipient(contact)).toBeNull();
    expect(await send(message({ contact }))).toMatchObject({ outcome: 'failed', code: 'unreachable' });
    expect(kit.fake.requestsOf('messenger')).toHaveLength(0);
  });
});
