/**
 * A customer's own endpoint (SPEC §4): a signed JSON POST to the connection's `baseUrl`, which
 * is the endpoint itself (used as given, query included).
 *
 * Credentials on the connection:
 * - `secret`: the HMAC-SHA256 key of `X-Herald-Signature: sha256=<hex>` over the raw body, so
 *   the endpoint can tell Herald's calls from anyone else's.
 * `Idempotency-Key: <delivery id>` lets the endpoint drop a resend after a lost answer.
 */
import { sha256Signature } from '@herald/core';
import type { ChannelAdapter, OutboundResponse, RecipientContact, SendResult } from '../adapter';
import { requireCredentials } from './connection-settings';
import { bodyExcerpt, connectionFault, exchange, failed, isRecord, isSuccess, parseJson, retry, retryAfterMs } from './outcomes';

export const customAdapter: ChannelAdapter = {
  provider: 'custom',
  recipient,

  async send(connection, message, http) {
    const endpoint = connection.baseUrl?.trim();
    if (!endpoint) return connectionFault('no_base_url', 'a custom connection needs base_url: the endpoint to POST to');
    const required = requireCredentials(connection, ['secret']);
    if ('fault' in required) return required.fault;
    const userId = recipient(message.contact);
    if (userId === null) return failed('unreachable', 'the contact has no user id');

    const { contact } = message;
    const body = JSON.stringify({
      delivery_id: message.deliveryId,
      run_id: message.runId,
      broadcast_id: message.broadcastId,
      bot_id: message.botId,
      contact: {
        user_id: userId,
        bot_channel: contact.bot_channel,
        user_phone_number: contact.user_phone_number,
        first_name: contact.first_name,
        last_name: contact.last_name,
        user_name: contact.user_name,
        locale: contact.locale,
      },
      text: message.text,
    });
    const sent = await exchange(http, {
      method: 'POST',
      url: endpoint,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'Herald',
        'X-Herald-Signature': sha256Signature(required.credentials.secret, body),
        'Idempotency-Key': message.deliveryId,
      },
      body,
    });
    if ('result' in sent) return sent.result;
    const { response } = sent;
    return isSuccess(response) ? { outcome: 'sent', providerMessageId: answeredId(response) } : classifyCustomError(response);
  },
};

function recipient(contact: RecipientContact): string | null {
  return contact.user_id.trim() || null;
}

/** The endpoint's own id for the message, when its JSON answer has one (`id` or `message_id`). */
function answeredId(response: OutboundResponse): string | null {
  const body = parseJson(response.body);
  if (!isRecord(body)) return null;
  const id = body['id'] ?? body['message_id'];
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
}

function classifyCustomError(response: OutboundResponse): SendResult {
  const { status } = response;
  const message = `endpoint answered ${status}: ${bodyExcerpt(response)}`;
  if (status === 429 || status >= 500) {
    return retry(`http_${status}`, message, { retryAfterMs: retryAfterMs(response), throttled: status === 429 });
  }
  if (status === 401 || status === 403) return connectionFault('unauthorized', message);
  if (status >= 400) return failed(`http_${status}`, message);
  return retry(`http_${status}`, message); // 1xx/3xx never reach here (redirects are refused by the client)
}
