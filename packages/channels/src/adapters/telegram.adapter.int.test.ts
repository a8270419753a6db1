import { fakeAnswers, fakeErrors } from '@herald/testing';
import type { OutboundMessage } from '../adapter';
import { createOutboundClient } from '../http/outbound-client';
import { outboundMessage, useAdapterFake, type Classified } from '../testing/adapter-test-kit';
import { telegramAdapter } from './telegram.adapter';

const kit = useAdapterFake('telegram');

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage(
    { user_id: '123456789', bot_channel: 'TelegramChannel', first_name: 'Ada', user_name: 'ada' },
    { text: 'New episode out', ...overrides },
  );
}

const send = (outbound = message(), to = kit.connection) => telegramAdapter.send(to, outbound, kit.http);

describe('Telegram adapter', () => {
  it('posts {chat_id, text} to /bot{token}/sendMessage', async () => {
    const result = await send();

    const [request] = kit.fake.requestsOf('telegram');
    expect(request?.path).toBe(`/bot${kit.fake.credentials.telegram.bot_token}/sendMessage`);
    expect(request?.json).toEqual({ chat_id: '123456789', text: 'New episode out' });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: expect.stringMatching(/^\d+$/) });
  });

  const catalog = fakeErrors.telegram;
  const expected: Record<keyof typeof catalog, Classified> = {
    tooManyRequests: { outcome: 'retry', code: 'http_429', throttled: true, retryAfterMs: 5000 },
    blocked: { outcome: 'failed', code: 'http_403', optOut: 'blocked the bot (Telegram 403)' },
    userDeactivated: { outcome: 'failed', code: 'http_403' },
    chatNotFound: { outcome: 'failed', code: 'http_400' },
    textEmpty: { outcome: 'failed', code: 'http_400' },
    unauthorized: { outcome: 'connection_fault', code: 'http_401' },
    notFound: { outcome: 'connection_fault', code: 'http_404' },
    internalError: { outcome: 'retry', code: 'http_500' },
  };

  it.each(Object.keys(catalog) as Array<keyof typeof catalog>)('classifies the %s error from its body', async (name) => {
    kit.fake.script('telegram', catalog[name]);
    const body = catalog[name].body as { description: string };
    expect(await send()).toEqual({ ...expected[name], message: body.description });
  });

  it('waits as long as parameters.retry_after says, with or without a Retry-After header', async () => {
    kit.fake.script(
      'telegram',
      fakeAnswers.rateLimit(7),
      fakeAnswers.response(429, {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 3',
        parameters: { retry_after: 3 },
      }),
    );
    expect(await send()).toMatchObject({ outcome: 'retry', retryAfterMs: 7000, throttled: true });
    expect(await send()).toMatchObject({ outcome: 'retry', retryAfterMs: 3000, throttled: true });
  });

  it('is a connection fault for a wrong token (401) and a malformed one (404), and never shows the token', async () => {
    const wrong = await send(message(), { ...kit.connection, credentials: { bot_token: '999:wrongsecretwrongsecretwrongsecret1' } });
    const malformed = await send(message(), { ...kit.connection, credentials: { bot_token: 'not-a-token' } });
    expect(wrong).toMatchObject({ outcome: 'connection_fault', code: 'http_401' });
    expect(malformed).toMatchObject({ outcome: 'connection_fault', code: 'http_404' });
    expect(JSON.stringify([wrong, malformed])).not.toMatch(/wrongsecret|not-a-token/);
  });

  it('never puts the token in a timeout message', async () => {
    const impatient = createOutboundClient({ allowedDestinations: ['127.0.0.0/8'], responseTimeoutMs: 100 });
    try {
      kit.fake.script('telegram', fakeAnswers.slow(1000));
      const result = await telegramAdapter.send(kit.connection, message(), impatient);
      expect(result).toMatchObject({ outcome: 'retry', code: 'timeout' });
      expect(JSON.stringify(result)).not.toContain(kit.fake.credentials.telegram.bot_token.split(':')[1]);
    } finally {
      await impatient.close();
    }
  });

  it('addresses numeric chat ids and @usernames only', () => {
    const contact = message().contact;
    expect(telegramAdapter.recipient({ ...contact, user_id: '-1001234567890' })).toBe('-1001234567890');
    expect(telegramAdapter.recipient({ ...contact, user_id: '@herald_news' })).toBe('@herald_news');
    expect(telegramAdapter.recipient({ ...contact, user_id: 'ada smith' })).toBeNull();
  });
});
