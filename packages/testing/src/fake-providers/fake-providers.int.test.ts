import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { fakeAnswers, fakeErrors, startFakeProviders, type FakeProviders } from './index';

let fake: FakeProviders;

beforeAll(async () => {
  fake = await startFakeProviders();
});
afterEach(() => fake.reset());
afterAll(() => fake.close());

async function post(path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(`${fake.baseUrl}${path}`, { method: 'POST', redirect: 'manual', ...init });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json: json as Record<string, any> };
}

const jsonHeaders = (extra: Record<string, string> = {}) => ({ 'Content-Type': 'application/json', ...extra });

function sendWhatsApp(token = fake.credentials.whatsapp_cloud.access_token, body: unknown = whatsappText()) {
  return post(`/v23.0/${fake.credentials.whatsapp_cloud.phone_number_id}/messages`, {
    headers: jsonHeaders({ Authorization: `Bearer ${token}` }),
    body: JSON.stringify(body),
  });
}

function whatsappText(to = '393331111111') {
  return { messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } };
}

function sendTelegram(token = fake.credentials.telegram.bot_token, body: unknown = { chat_id: 42, text: 'hi' }) {
  return post(`/bot${token}/sendMessage`, { headers: jsonHeaders(), body: JSON.stringify(body) });
}

function sendTwilio(auth = `${fake.credentials.twilio.account_sid}:${fake.credentials.twilio.auth_token}`) {
  return post(`/2010-04-01/Accounts/${fake.credentials.twilio.account_sid}/Messages.json`, {
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(auth).toString('base64')}`,
    },
    body: new URLSearchParams({ To: '+393331111111', Body: 'hi', From: fake.credentials.twilio.from }).toString(),
  });
}

function sendMessenger(token = fake.credentials.messenger.page_access_token) {
  return post('/v23.0/me/messages', {
    headers: jsonHeaders({ Authorization: `Bearer ${token}` }),
    body: JSON.stringify({ recipient: { id: '2400000001' }, messaging_type: 'UPDATE', message: { text: 'hi' } }),
  });
}

function signCustom(body: string, secret = fake.credentials.custom.secret) {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function sendCustom(signature?: string) {
  const body = JSON.stringify({ delivery_id: 'd-1', text: 'hi', contact: { user_id: 'u-1' } });
  return post('/custom/herald', {
    headers: jsonHeaders({ 'X-Herald-Signature': signature ?? signCustom(body), 'Idempotency-Key': 'd-1' }),
    body,
  });
}

/** A service-account assertion as google-auth-library builds it. */
function assertion(privateKey: string, claims: Record<string, unknown> = {}) {
  const account = JSON.parse(fake.credentials.google_rbm.service_account_json) as Record<string, string>;
  const iat = Math.floor(Date.now() / 1000);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({
    iss: account['client_email'],
    scope: 'https://www.googleapis.com/auth/rcsbusinessmessaging',
    aud: account['token_uri'],
    iat,
    exp: iat + 3600,
    ...claims,
  })}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url');
  return `${unsigned}.${signature}`;
}

function fetchToken(jwt: string) {
  return post('/token', {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt }).toString(),
  });
}

const servicePrivateKey = () => (JSON.parse(fake.credentials.google_rbm.service_account_json) as { private_key: string }).private_key;

describe('fake providers', () => {
  it('answers each provider with its real success body and records the request', async () => {
    const whatsapp = await sendWhatsApp();
    expect(whatsapp.status).toBe(200);
    expect(whatsapp.json).toMatchObject({
      messaging_product: 'whatsapp',
      contacts: [{ input: '393331111111', wa_id: '393331111111' }],
      messages: [{ id: expect.stringMatching(/^wamid\./) }],
    });
    const twilio = await sendTwilio();
    expect(twilio.status).toBe(201);
    expect(twilio.json).toMatchObject({ sid: expect.stringMatching(/^SM[0-9a-f]{32}$/), status: 'queued', to: '+393331111111' });
    const telegram = await sendTelegram();
    expect(telegram.json).toMatchObject({ ok: true, result: { message_id: expect.any(Number), chat: { id: 42 }, text: 'hi' } });
    const messenger = await sendMessenger();
    expect(messenger.json).toMatchObject({ recipient_id: '2400000001', message_id: expect.stringMatching(/^m_/) });
    const custom = await sendCustom();
    expect(custom.json).toEqual({ ok: true, id: 'custom-d-1' });

    expect(fake.requests.map((request) => request.provider)).toEqual(['whatsapp_cloud', 'twilio', 'telegram', 'messenger', 'custom']);
    const [twilioRequest] = fake.requestsOf('twilio');
    expect(twilioRequest).toMatchObject({ method: 'POST', answeredStatus: 201, form: { To: '+393331111111', Body: 'hi' } });
    expect(fake.requestsOf('custom')[0]?.headers['idempotency-key']).toBe('d-1');
    expect(fake.requestsOf('whatsapp_cloud')[0]?.json).toEqual(whatsappText());
  });

  it('runs scripted answers in order, then the default', async () => {
    fake.script('telegram', fakeErrors.telegram.blocked, fakeErrors.telegram.chatNotFound);
    expect((await sendTelegram()).status).toBe(403);
    expect((await sendTelegram()).json).toMatchObject({ description: 'Bad Request: chat not found' });
    expect((await sendTelegram()).status).toBe(200);

    fake.setDefault('telegram', fakeAnswers.serverError(502));
    fake.script('telegram', fakeAnswers.success);
    expect((await sendTelegram()).status).toBe(200);
    expect((await sendTelegram()).status).toBe(502);
    expect((await sendTelegram()).status).toBe(502);
    // a script for one provider leaves the others alone
    expect((await sendWhatsApp()).status).toBe(200);
  });

  it("answers a wrong credential with the provider's own auth error", async () => {
    expect(await sendWhatsApp('EAAGwrong')).toMatchObject({ status: 401, json: { error: { code: 190 } } });
    expect(await sendMessenger('EAABwrong')).toMatchObject({ status: 401, json: { error: { code: 190 } } });
    expect(await sendTwilio(`${fake.credentials.twilio.account_sid}:wrong`)).toMatchObject({
      status: 401,
      json: { code: 20003 },
    });
    expect(await sendTelegram('123:wrong')).toMatchObject({ status: 401, json: { ok: false, description: 'Unauthorized' } });
    expect(await sendTelegram('not-a-token')).toMatchObject({ status: 404, json: { description: 'Not Found' } });
    expect(await sendCustom(signCustom('another body'))).toMatchObject({ status: 401 });
    const rbm = await post(`/v1/phones/%2B393331111111/agentMessages?messageId=m-1&agentId=${fake.credentials.google_rbm.agent_id}`, {
      headers: jsonHeaders({ Authorization: 'Bearer ya29.never-issued' }),
      body: JSON.stringify({ contentMessage: { text: 'hi' } }),
    });
    expect(rbm).toMatchObject({ status: 401, json: { error: { status: 'UNAUTHENTICATED' } } });
  });

  it('validates the message the way the provider does', async () => {
    const noBody = await sendWhatsApp(undefined, { messaging_product: 'whatsapp', to: '39333', type: 'text', text: {} });
    expect(noBody).toMatchObject({ status: 400, json: { error: { code: 100 } } });
    const template = await sendWhatsApp(undefined, {
      messaging_product: 'whatsapp',
      to: '39333',
      type: 'template',
      template: { name: 'reminder', language: { code: 'en' } },
    });
    expect(template.status).toBe(200);
    expect(await sendTelegram(undefined, { chat_id: 42, text: '' })).toMatchObject({ status: 400 });
  });

  it('answers a rate limit with Retry-After, and Telegram also in the body', async () => {
    fake.script('telegram', fakeAnswers.rateLimit(7));
    const telegram = await sendTelegram();
    expect(telegram.status).toBe(429);
    expect(telegram.headers.get('retry-after')).toBe('7');
    expect(telegram.json).toEqual({
      ok: false,
      error_code: 429,
      description: 'Too Many Requests: retry after 7',
      parameters: { retry_after: 7 },
    });

    fake.script('whatsapp_cloud', fakeAnswers.rateLimit(3));
    const whatsapp = await sendWhatsApp();
    expect(whatsapp.status).toBe(400); // Meta's throttling comes back as a 400
    expect(whatsapp.headers.get('retry-after')).toBe('3');
    expect(whatsapp.json).toMatchObject({ error: { code: 130429 } });
  });

  it('answers slowly when told to, then records the status', async () => {
    fake.script('twilio', fakeAnswers.slow(300, fakeErrors.twilio.tooManyRequests));
    const started = Date.now();
    const answer = await sendTwilio();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(answer).toMatchObject({ status: 429, json: { code: 20429 } });
    expect(fake.requestsOf('twilio')[0]?.answeredStatus).toBe(429);
  });

  it('redirects, and destroys the socket without answering', async () => {
    fake.script('custom', fakeAnswers.redirect('http://10.0.0.1/elsewhere'), fakeAnswers.destroySocket);
    const redirected = await sendCustom();
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe('http://10.0.0.1/elsewhere');
    await expect(sendCustom()).rejects.toThrow();
    expect(fake.requestsOf('custom').map((request) => request.answeredStatus)).toEqual([302, null]);
  });

  it('issues RBM tokens only for assertions signed with the service-account key', async () => {
    const token = await fetchToken(assertion(servicePrivateKey()));
    expect(token).toMatchObject({ status: 200, json: { expires_in: 3600, token_type: 'Bearer' } });

    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    expect(await fetchToken(assertion(otherKey.toString()))).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect(await fetchToken(assertion(servicePrivateKey(), { aud: 'https://elsewhere/token' }))).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    });

    const send = () =>
      post(`/v1/phones/%2B393331111111/agentMessages?messageId=m-1&agentId=${fake.credentials.google_rbm.agent_id}`, {
        headers: jsonHeaders({ Authorization: `Bearer ${token.json['access_token']}` }),
        body: JSON.stringify({ contentMessage: { text: 'hi' } }),
      });
    expect(await send()).toMatchObject({
      status: 200,
      json: { name: 'phones/+393331111111/agentMessages/m-1', contentMessage: { text: 'hi' } },
    });
    expect(await send()).toMatchObject({ status: 409, json: { error: { status: 'ALREADY_EXISTS' } } });

    fake.revokeTokens();
    expect(await send()).toMatchObject({ status: 401 });
  });

  it('records nothing when recording is off', async () => {
    const quiet = await startFakeProviders({ record: false });
    try {
      const response = await fetch(`${quiet.baseUrl}/bot${quiet.credentials.telegram.bot_token}/sendMessage`, {
        method: 'POST',
        headers: jsonHeaders(),
        body: JSON.stringify({ chat_id: 1, text: 'hi' }),
      });
      expect(response.status).toBe(200);
      expect(quiet.requests).toHaveLength(0);
    } finally {
      await quiet.close();
    }
  });
});
