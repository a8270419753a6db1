/**
 * Facebook Messenger through the Send API: `POST {root}/{api_version}/me/messages`.
 *
 * Credentials on the connection:
 * - `page_access_token`: the Page's access token, sent as `Authorization: Bearer` (never in the
 *   URL, where it would end up in logs);
 * - `api_version` (optional): the Graph API version, `v23.0` by default.
 * `baseUrl` overrides `https://graph.facebook.com`.
 */
import type { ChannelAdapter, RecipientContact } from '../adapter';
import { apiRoot, optionalCredential, requireCredentials } from './connection-settings';
import { classifyGraphError, type GraphRules } from './graph-errors';
import { exchange, failed, isRecord, isSuccess, parseJson } from './outcomes';

const PUBLIC_ROOT = 'https://graph.facebook.com';
const DEFAULT_API_VERSION = 'v23.0';

/** Codes read from the error body; any other 4xx is permanent for the recipient. */
const RULES: GraphRules = new Map([
  [613, 'throttled'], // calls exceeded the rate limit
  [4, 'throttled'], // application request limit
  [32, 'throttled'], // Page request limit
  [1200, 'retry'], // temporary send failure
  [2, 'retry'], // service temporarily unavailable
  [1, 'retry'], // unknown, possibly a server error
  [190, 'fault'], // Page token expired or invalid
  [551, 'failed'], // this person isn't available right now
  [10, 'failed'], // outside the allowed window (subcode 2018278) or not allowed to message them
  [100, 'failed'], // invalid parameter / no matching user
]);

/** 551, "this person isn't available right now": what Messenger answers once the person blocked the page. */
const OPT_OUTS = new Map([[551, 'not available: blocked the page (Messenger 551)']]);

export const messengerAdapter: ChannelAdapter = {
  provider: 'messenger',
  receiptsByProviderId: true,

  recipient,

  async send(connection, message, http) {
    const required = requireCredentials(connection, ['page_access_token']);
    if ('fault' in required) return required.fault;
    const psid = recipient(message.contact);
    if (psid === null) return failed('unreachable', 'the contact has no Page-scoped id');
    const version = optionalCredential(connection, 'api_version') ?? DEFAULT_API_VERSION;
    // A message tag is what lets a message through outside the 24-hour window.
    const messaging = message.messageTag ? { messaging_type: 'MESSAGE_TAG', tag: message.messageTag } : { messaging_type: 'UPDATE' };

    const sent = await exchange(http, {
      method: 'POST',
      url: `${apiRoot(connection, PUBLIC_ROOT)}/${encodeURIComponent(version)}/me/messages`,
      headers: {
        Authorization: `Bearer ${required.credentials.page_access_token}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ recipient: { id: psid }, ...messaging, message: { text: message.text } }),
    });
    if ('result' in sent) return sent.result;
    const { response } = sent;
    if (!isSuccess(response)) return classifyGraphError(response, RULES, OPT_OUTS);
    const body = parseJson(response.body);
    const id = isRecord(body) ? body['message_id'] : undefined;
    return { outcome: 'sent', providerMessageId: typeof id === 'string' ? id : null };
  },
};

/** The Page-scoped id (PSID) the contact has towards the Page. */
function recipient(contact: RecipientContact): string | null {
  return contact.user_id.trim() || null;
}
