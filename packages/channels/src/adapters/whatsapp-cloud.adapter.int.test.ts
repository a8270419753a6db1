import { fakeAnswers, fakeErrors } from '@herald/testing';
import type { OutboundMessage } from '../adapter';
import { outboundMessage, useAdapterFake, type Classified } from '../testing/adapter-test-kit';
import { whatsappCloudAdapter } from './whatsapp-cloud.adapter';

const kit = useAdapterFake('whatsapp_cloud');

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage(
    {
      user_id: '393331111111',
      bot_channel: 'WhatsAppChannel',
      user_phone_number: '+39 333 111 1111',
      first_name: 'Ada',
      locale: 'it',
    },
    { text: 'Your order has shipped', ...overrides },
  );
}

const send = (outbound = message(), to = kit.connection) => whatsappCloudAdapter.send(to, outbound, kit.http);

describe('WhatsApp Cloud adapter', () => {
  it('sends a text message to /{version}/{phone_number_id}/messages with the bearer token', async () => {
    const outbound = message();
    const result = await send(outbound);

    const [request] = kit.fake.requestsOf('whatsapp_cloud');
    expect(request?.path).toBe(`/v23.0/${kit.fake.credentials.whatsapp_cloud.phone_number_id}/messages`);
    expect(request?.headers.authorization).toBe(`Bearer ${kit.fake.credentials.whatsapp_cloud.access_token}`);
    expect(request?.json).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '393331111111',
      biz_opaque_callback_data: outbound.deliveryId,
      type: 'text',
      text: { preview_url: false, body: 'Your order has shipped' },
    });
    expect(result).toEqual({ outcome: 'sent', providerMessageId: expect.stringMatching(/^wamid\./) });
  });

  it('sends a template with its body parameters, and without components when it has none', async () => {
    const withParameters = await send(message({ text: '', template: { name: 'order_update', language: 'it', bodyParameters: ['Ada', '#42'] } }));
    await send(message({ template: { name: 'hello', language: 'en_US', bodyParameters: [] } }));

    expect(withParameters.outcome).toBe('sent');
    const [first, second] = kit.fake.requestsOf('whatsapp_cloud').map((request) => request.json as Record<string, unknown>);
    expect(first).toMatchObject({
      type: 'template',
      template: {
        name: 'order_update',
        language: { code: 'it' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Ada' },
              { type: 'text', text: '#42' },
            ],
          },
        ],
      },
    });
    expect(first).not.toHaveProperty('text');
    expect(second?.['template']).toEqual({ name: 'hello', language: { code: 'en_US' } });
  });

  it('uses the api_version credential and strips a trailing slash from the base URL', async () => {
    await send(message(), {
      ...kit.connection,
      baseUrl: `${kit.fake.baseUrl}/`,
      credentials: { ...kit.connection.credentials, api_version: 'v21.0' },
    });
    expect(kit.fake.requestsOf('whatsapp_cloud')[0]?.path).toBe(`/v21.0/${kit.fake.credentials.whatsapp_cloud.phone_number_id}/messages`);
  });

  it('keeps biz_opaque_callback_data within 512 bytes', async () => {
    await send(message({ deliveryId: 'é'.repeat(300) }));
    const body = kit.fake.requestsOf('whatsapp_cloud')[0]?.json as { biz_opaque_callback_data: string };
    expect(Buffer.byteLength(body.biz_opaque_callback_data)).toBe(512);
    expect(body.biz_opaque_callback_data).toBe('é'.repeat(256));
  });

  const catalog = fakeErrors.whatsapp_cloud;
  const expected: Record<keyof typeof catalog, Classified> = {
    invalidToken: { outcome: 'connection_fault', code: '190' },
    rateLimitHit: { outcome: 'retry', code: '130429', throttled: true },
    // the pair rate limit is about one recipient: retried, but the connection is not paused
    pairRateLimit: { outcome: 'retry', code: '131056' },
    somethingWentWrong: { outcome: 'retry', code: '131000' },
    tooManyCalls: { outcome: 'retry', code: '4', throttled: true },
    rateLimitIssues: { outcome: 'retry', code: '80007', throttled: true },
    undeliverable: { outcome: 'failed', code: '131026' },
    reEngagement: { outcome: 'failed', code: '131047' },
    // The person stopped marketing messages: failed, and the contact opted out.
    stoppedMarketing: { outcome: 'failed', code: '131050', optOut: 'stopped marketing messages (WhatsApp 131050)' },
    invalidParameter: { outcome: 'failed', code: '100' },
  };

  it.each(Object.keys(catalog) as Array<keyof typeof catalog>)('classifies the %s error from its body', async (name) => {
    kit.fake.script('whatsapp_cloud', catalog[name]);
    const result = await send();
    const error = (catalog[name].body as { error: { message: string } }).error;
    expect(result).toEqual({ ...expected[name], message: expect.stringContaining(error.message) });
  });

  it("keeps Meta's details with the message", async () => {
    kit.fake.script('whatsapp_cloud', catalog.reEngagement);
    const result = await send();
    expect(result).toMatchObject({ message: expect.stringContaining('more than 24 hours have passed') });
  });

  it('honours Retry-After on a rate limit that comes back as HTTP 400', async () => {
    kit.fake.script('whatsapp_cloud', fakeAnswers.rateLimit(7));
    expect(await send()).toEqual({
      outcome: 'retry',
      code: '130429',
      message: expect.any(String),
      retryAfterMs: 7000,
      throttled: true,
    });
  });

  it('is a connection fault when Meta rejects the token', async () => {
    const result = await send(message(), { ...kit.connection, credentials: { ...kit.connection.credentials, access_token: 'EAAGwrong' } });
    expect(result).toMatchObject({ outcome: 'connection_fault', code: '190' });
    expect(JSON.stringify(result)).not.toContain('EAAGwrong');
  });

  it('retries a 5xx, and a non-JSON error page by its status', async () => {
    kit.fake.script('whatsapp_cloud', fakeAnswers.serverError(503), fakeAnswers.response(502, '<html>Bad gateway</html>'));
    expect(await send()).toMatchObject({ outcome: 'retry', code: '131016' });
    expect(await send()).toMatchObject({ outcome: 'retry', code: 'http_502', message: '<html>Bad gateway</html>' });
  });

  it('addresses the digits of the phone number, else of the user id', () => {
    const contact = message().contact;
    expect(whatsappCloudAdapter.recipient({ ...contact, user_phone_number: '+39 (333) 111-1111' })).toBe('393331111111');
    expect(whatsappCloudAdapter.recipient({ ...contact, user_phone_number: null, user_id: '00393331111111' })).toBe('393331111111');
    expect(whatsappCloudAdapter.recipient({ ...contact, user_phone_number: null, user_id: 'ada@example.com' })).toBeNull();
  });
});
