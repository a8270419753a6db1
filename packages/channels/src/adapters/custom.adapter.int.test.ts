import { createHmac } from 'node:crypto';
import { fakeAnswers, fakeErrors } from '@herald/testing';
import type { OutboundMessage } from '../adapter';
import { outboundMessage, useAdapterFake, type Classified } from '../testing/adapter-test-kit';
import { customAdapter } from './custom.adapter';

const kit = useAdapterFake('custom');

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage(
    {
      user_id: 'crm-42',
      bot_channel: 'CustomChannel',
      user_phone_number: '+393331111111',
      first_name: 'Ada',
      last_name: 'Lovelace',
      user_name: 'ada',
      locale: 'en',
    },
    { text: 'Hello Ada', ...overrides },
  );
}

const send = (outbound = message(), to = kit.connection) => customAdapter.send(to, outbound, kit.http);

describe('Custom adapter', () => {
  it('posts the SPEC body to base_url, signed, with the delivery id as Idempotency-Key', async () => {
    const outbound = message();
    const result = await send(outbound);

    const [request] = kit.fake.requestsOf('custom');
    expect(request?.path).toBe('/custom/herald');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toBe('Herald');
    expect(request?.headers['idempotency-key']).toBe(outbound.deliveryId);
    const signature = createHmac('sha256', kit.fake.credentials.custom.secret).update(request!.rawBody).digest('hex');
    expect(request?.headers['x-herald-signature']).toBe(`sha256=${signature}`);
    expect(request?.json).toEqual({
      delivery_id: outbound.deliveryId,
      run_id: outbound.runId,
      broadcast_id: outbound.broadcastId,
      bot_id: outbound.botId,
      contact: {
        user_id: 'crm-42',
        bot_channel: 'CustomChannel',
        user_phone_number: '+393331111111',
        first_name: 'Ada',
        last_name: 'Lovelace',
        user_name: 'ada',
        locale: 'en',
      },
      text: 'Hello Ada',
    });
    // The fake endpoint answers its own id, as a real one may.
    expect(result).toEqual({ outcome: 'sent', providerMessageId: `custom-${outbound.deliveryId}` });
  });

  it("takes any 2xx as sent, keeping the endpoint's id when it gives one", async () => {
    kit.fake.script('custom', fakeAnswers.response(202, ''), fakeAnswers.response(201, { id: 'evt_1' }), fakeAnswers.response(200, { message_id: 77 }));
    expect(await send()).toEqual({ outcome: 'sent', providerMessageId: null });
    expect(await send()).toEqual({ outcome: 'sent', providerMessageId: 'evt_1' });
    expect(await send()).toEqual({ outcome: 'sent', providerMessageId: '77' });
  });

  it('is a connection fault when the endpoint rejects the signature', async () => {
    const wrong = { ...kit.connection, credentials: { secret: 'not-the-secret' } };
    expect(await send(message(), wrong)).toEqual({
      outcome: 'connection_fault',
      code: 'unauthorized',
      message: 'endpoint answered 401: {"error":"invalid signature"}',
    });
  });

  it('needs a base_url and a secret', async () => {
    expect(await send(message(), { ...kit.connection, baseUrl: null as unknown as string })).toMatchObject({
      outcome: 'connection_fault',
      code: 'no_base_url',
    });
    expect(await send(message(), { ...kit.connection, credentials: {} })).toEqual({
      outcome: 'connection_fault',
      code: 'missing_credentials',
      message: 'missing credentials: secret',
    });
    expect(kit.fake.requests).toHaveLength(0);
  });

  const catalog = fakeErrors.custom;
  const expected: Record<keyof typeof catalog, Classified> = {
    unauthorized: { outcome: 'connection_fault', code: 'unauthorized' },
    forbidden: { outcome: 'connection_fault', code: 'unauthorized' },
    badRequest: { outcome: 'failed', code: 'http_400' },
    tooManyRequests: { outcome: 'retry', code: 'http_429', retryAfterMs: 2000, throttled: true },
    unavailable: { outcome: 'retry', code: 'http_503' },
  };

  it.each(Object.keys(catalog) as Array<keyof typeof catalog>)('classifies the %s answer', async (name) => {
    kit.fake.script('custom', catalog[name]);
    const { body, status } = catalog[name];
    const excerpt = typeof body === 'string' ? body : JSON.stringify(body);
    expect(await send()).toEqual({ ...expected[name], message: `endpoint answered ${status}: ${excerpt}` });
  });

  it('keeps only a short excerpt of a long error body', async () => {
    kit.fake.script('custom', fakeAnswers.response(422, 'x'.repeat(5000)));
    const result = (await send()) as { message: string };
    expect(result).toMatchObject({ outcome: 'failed', code: 'http_422' });
    expect(result.message.length).toBeLessThan(300);
  });
});
