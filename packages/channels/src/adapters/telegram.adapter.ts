/**
 * Telegram through the Bot API: `POST {root}/bot{bot_token}/sendMessage`, JSON `{chat_id, text}`.
 *
 * Credentials on the connection:
 * - `bot_token`: the token BotFather gave (`123456:ABC…`).
 * `baseUrl` overrides `https://api.telegram.org` (a local Bot API server, tests).
 * The token is part of the URL: no message built here may carry the URL (`redactUrl` if ever).
 */
import type { ChannelAdapter, OutboundResponse, RecipientContact, SendResult } from '../adapter';
import { apiRoot, requireCredentials } from './connection-settings';
import { classifyByStatus, connectionFault, exchange, failed, isRecord, isSuccess, parseJson, retry, retryAfterMs } from './outcomes';

const PUBLIC_ROOT = 'https://api.telegram.org';

export const telegramAdapter: ChannelAdapter = {
  provider: 'telegram',
  recipient,

  async send(connection, message, http) {
    const required = requireCredentials(connection, ['bot_token']);
    if ('fault' in required) return required.fault;
    const chatId = recipient(message.contact);
    if (chatId === null) return failed('unreachable', 'the contact has no Telegram chat id');

    const token = encodeURIComponent(required.credentials.bot_token).replace(/%3A/gi, ':');
    const sent = await exchange(http, {
      method: 'POST',
      url: `${apiRoot(connection, PUBLIC_ROOT)}/bot${token}/sendMessage`,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ chat_id: chatId, text: message.text }),
    });
    if ('result' in sent) return sent.result;
    const { response } = sent;
    if (!isSuccess(response)) return classifyTelegramError(response);
    const body = parseJson(response.body);
    const result = isRecord(body) ? body['result'] : undefined;
    const messageId = isRecord(result) ? result['message_id'] : undefined;
    return {
      outcome: 'sent',
      providerMessageId: typeof messageId === 'number' || typeof messageId === 'string' ? String(messageId) : null,
    };
  },
};

/** A numeric chat id (negative for groups) or a public `@username`; anything else cannot be addressed. */
function recipient(contact: RecipientContact): string | null {
  const id = contact.user_id.trim();
  return /^-?\d+$/.test(id) || /^@[A-Za-z]\w{3,}$/.test(id) ? id : null;
}

/**
 * `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`.
 * `error_code` is the HTTP status again, so the code kept is `http_<status>` and the
 * description tells the cases apart.
 */
function classifyTelegramError(response: OutboundResponse): SendResult {
  const body = parseJson(response.body);
  if (!isRecord(body) || typeof body['description'] !== 'string') return classifyByStatus(response);
  const status = typeof body['error_code'] === 'number' ? body['error_code'] : response.status;
  const code = `http_${status}`;
  const description = body['description'];
  if (status === 429) {
    // Telegram says how long in the body; a proxy may add a Retry-After header: honour the later.
    const parameters = body['parameters'];
    const seconds = isRecord(parameters) && typeof parameters['retry_after'] === 'number' ? parameters['retry_after'] : undefined;
    const delays = [seconds === undefined ? undefined : seconds * 1000, retryAfterMs(response)].filter((delay): delay is number => delay !== undefined);
    return retry(code, description, {
      retryAfterMs: delays.length > 0 ? Math.max(...delays) : undefined,
      throttled: true,
    });
  }
  // 401: the token is wrong; 404 on the bot path: the token is malformed (or the root is wrong).
  if (status === 401 || status === 404) return connectionFault(code, description);
  if (status >= 500) return retry(code, description, { retryAfterMs: retryAfterMs(response) });
  // 403 blocked / deactivated / kicked, 400 chat not found and other bad requests: permanent.
  // A user who blocked the bot has opted out of it.
  return failed(code, description, status === 403 && /blocked by the user/i.test(description) ? 'blocked the bot (Telegram 403)' : undefined);
}
