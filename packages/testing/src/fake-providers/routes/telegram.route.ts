import { fakeErrors, telegramError } from '../catalog';
import { jsonResponse, type ProviderRoute } from '../state';

/** A token Telegram would route at all (`<bot id>:<secret>`); anything else is a 404 there. */
const WELL_FORMED_TOKEN = /^\d+:[A-Za-z0-9_-]+$/;

/**
 * Telegram Bot API: `POST /bot{token}/sendMessage`, JSON (or form) `{chat_id, text}`. Every
 * other method under `/bot{token}/` is the provider's too and answered 404 Not Found.
 */
export const telegramRoute: ProviderRoute = {
  provider: 'telegram',
  match(path) {
    const match = /^\/bot([^/]*)\/([^/]+)$/.exec(path);
    return match ? [decodeURIComponent(match[1]!), match[2]!] : null;
  },
  succeed(request, [token, method], state) {
    if (!WELL_FORMED_TOKEN.test(token!) || method !== 'sendMessage') return fakeErrors.telegram.notFound;
    if (token !== state.credentials.telegram.bot_token) return fakeErrors.telegram.unauthorized;
    const fields = (request.json ?? request.form) as Record<string, unknown> | undefined;
    const chatId = fields?.['chat_id'];
    const text = fields?.['text'];
    if ((typeof chatId !== 'string' || chatId === '') && typeof chatId !== 'number') {
      return telegramError(400, 'Bad Request: chat_id is empty');
    }
    if (typeof text !== 'string' || text.trim() === '') return fakeErrors.telegram.textEmpty;
    const numericChat = /^-?\d+$/.test(String(chatId));
    return jsonResponse(200, {
      ok: true,
      result: {
        message_id: state.nextId(),
        from: { id: Number(token.split(':')[0]), is_bot: true, first_name: 'Herald', username: 'herald_fake_bot' },
        chat: numericChat
          ? { id: Number(chatId), first_name: 'Fake', type: 'private' }
          : { id: -1001234567890, username: String(chatId).replace(/^@/, ''), type: 'channel' },
        date: Math.floor(Date.now() / 1000),
        text,
      },
    });
  },
  rateLimited: (seconds) => telegramError(429, `Too Many Requests: retry after ${seconds}`, seconds),
  serverError: (status) => telegramError(status, status === 502 ? 'Bad Gateway' : 'Internal Server Error'),
};
