import { redactText, redactUrl } from './redact-url';

describe('redactUrl', () => {
  it.each([
    ['https://api.telegram.org/bot123456:ABC-DEF/sendMessage', 'https://api.telegram.org/bot<redacted>/sendMessage'],
    ['https://api.telegram.org/file/bot123456:ABC-DEF/photos/1.jpg', 'https://api.telegram.org/file/bot<redacted>/photos/1.jpg'],
    ['https://api.telegram.org/bot123456%3AABC-DEF/getMe', 'https://api.telegram.org/bot<redacted>/getMe'],
    ['https://graph.facebook.com/v19.0/1098765432/messages?access_token=EAAB123secret&x=1', 'https://graph.facebook.com/v19.0/1098765432/messages'],
    ['https://user:pw@gateway.test:8443/send#frag', 'https://gateway.test:8443/send'],
    ['https://discord.com/api/webhooks/123456789/abcDEF123ghiJKL456mnoPQR789stu', 'https://discord.com/api/webhooks/123456789/<redacted>'],
    ['https://example.test/bots/botany', 'https://example.test/bots/botany'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/'],
    ['mailto:someone@example.test?subject=token', 'mailto:<redacted>'],
    ['not a url /bot1:SECRET', '<invalid url>'],
  ])('%s → %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });
});

describe('redactText', () => {
  it('redacts every URL and bare Telegram token in a message', () => {
    expect(redactText('POST https://api.telegram.org/bot1:AAA/sendMessage?chat_id=2 failed (bot42:XYZ-abc), see http://x.test/?token=t')).toBe(
      'POST https://api.telegram.org/bot<redacted>/sendMessage failed (bot<redacted>), see http://x.test/',
    );
  });
});
