import { redact, redactText, REDACTED } from './redact';

describe('redact', () => {
  const SECRET_KEYS = [
    // camelCase, as the channel configs and webhooks spell them
    'hookToken',
    'accessToken',
    'clientSecret',
    'apiKey',
    'authToken',
    'appSecret',
    'webhookSecret',
    'clientToken',
    'verifyToken',
    'botToken',
    'pageAccessToken',
    'serviceAccountJson',
    'privateKey',
    'signingKey',
    'password',
    'secret',
    'token',
    'credential',
    // snake, kebab, upper and spaced
    'refresh_token',
    'client-secret',
    'DB_PASSWORD',
    'Private Key',
    'idempotency-key',
    // headers
    'x-api-key',
    'proxy-authorization',
    'Authorization',
    'cookie',
    'set-cookie',
    'x-hub-signature-256',
    'x-twilio-signature',
    'x-goog-signature',
    'X-Herald-Signature',
    'x-telegram-bot-api-secret-token',
  ];

  it.each(SECRET_KEYS)('redacts %s in nested objects, arrays and errors', (key) => {
    const error = Object.assign(new Error('failed'), { [key]: 'SECRET', code: 'E1' });
    const out = redact({ key: 'visible', a: { b: [{ [key]: 'SECRET' }] }, [key]: { nested: 'SECRET' }, error }) as Record<string, unknown>;
    expect(JSON.stringify(out)).not.toContain('SECRET');
    expect(out).toMatchObject({ key: 'visible', a: { b: [{ [key]: REDACTED }] }, [key]: REDACTED, error: { [key]: REDACTED, code: 'E1' } });
  });

  it('keeps keys that only look like secret ones', () => {
    const fields = {
      key: 'k',
      monkey: 'm',
      tokenCount: 3,
      signal: 'SIGTERM',
      keyboard: 'qwerty',
      expiredIdempotencyKeys: 2,
      'x-request-id': 'r',
      base_url: 'u',
    };
    expect(redact(fields)).toEqual(fields);
  });
});

describe('redactText', () => {
  it.each([
    ['POST https://api.telegram.org/bot123456:AAH-x_Y9z/sendMessage failed', 'POST https://api.telegram.org/bot[redacted]/sendMessage failed'],
    ['GET /file/bot123456%3AAAH-x_Y9z/photo.jpg', 'GET /file/bot[redacted]/photo.jpg'],
    ['token bot42:XYZ-abc was revoked', 'token bot[redacted] was revoked'],
    ['GET https://graph.facebook.com/v19.0/me?access_token=EAAG12 -> 400', 'GET https://graph.facebook.com/v19.0/me?access_token=[redacted] -> 400'],
    ['/me?fields=id&access_token=EAAG12&limit=5', '/me?fields=id&access_token=[redacted]&limit=5'],
    ['/webhook?hub.mode=subscribe&hub.verify_token=vt-1&hub.challenge=42', '/webhook?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=42'],
    [
      '?client_secret=cs&secret=s&X-Amz-Signature=ab12&signature=sha256=ff&key=AIza',
      '?client_secret=[redacted]&secret=[redacted]&X-Amz-Signature=[redacted]&signature=[redacted]&key=[redacted]',
    ],
    ['redirect_uri=https://app.test/cb?id_token=eyJ', 'redirect_uri=https://app.test/cb?id_token=[redacted]'],
    ['Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic [redacted]'],
    ['authorization: bearer abc.def-ghi', 'authorization: bearer [redacted]'],
    ['connect https://user:p4ss@host.test/x', 'connect https://user:[redacted]@host.test/x'],
    ['amqp://guest:gu:est@rabbit:5672', 'amqp://guest:[redacted]@rabbit:5672'],
  ])('redacts the secret in %s', (text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it('leaves ordinary URLs and parameters alone', () => {
    const text = 'GET https://example.test:8443/v19.0/1098765432/messages?page=2&id=5 -> status=500 code=23505 (http://127.0.0.1:9000)';
    expect(redactText(text)).toBe(text);
  });

  it('cuts long strings, still redacting a URL password cut in two', () => {
    const long = redactText('x'.repeat(20_000));
    expect(long).toBe(`${'x'.repeat(8 * 1024)}… [${20_000 - 8 * 1024} more characters]`);
    const straddling = redactText(`${'x'.repeat(8 * 1024 - 20)} postgres://u:hunter2hunter2@db/herald`);
    expect(straddling).not.toContain('hunt');
    expect(straddling).toContain(`postgres://u:${REDACTED}… [`);
  });

  it('takes linear time whatever the input: 1 MB adversarial strings, and many at the length limit', () => {
    const MB = 1024 * 1024;
    // `repeat` and `+` build ropes, which V8 flattens on first read: do it before the clock starts.
    const flat = (text: string) => Buffer.from(text, 'latin1').toString('latin1');
    const adversarial = [
      'a.'.repeat(MB / 2), // the old user-info pattern rescanned this from every letter: 1.7 s for 64 KB
      'a-'.repeat(MB / 2),
      `a://${':'.repeat(MB)}`,
      'a://x:'.repeat(MB / 6),
      `bearer${' '.repeat(MB)}"`,
      'bot1:'.repeat(MB / 5),
      `&${'a_token'.repeat(MB / 7)}`,
      'a='.repeat(MB / 2),
    ].map(flat);
    const start = performance.now();
    for (const text of adversarial) {
      redactText(text);
      // Patterns must be linear on their own too: a log entry may hold many strings near the limit.
      const atLimit = text.slice(0, 8 * 1024);
      for (let i = 0; i < 32; i++) redactText(atLimit);
    }
    expect(performance.now() - start).toBeLessThan(200);
  });
});
