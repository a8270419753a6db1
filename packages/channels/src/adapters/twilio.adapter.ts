/**
 * SMS through Twilio's Messages API: `POST {root}/2010-04-01/Accounts/{account_sid}/Messages.json`,
 * form-encoded, Basic auth.
 *
 * Credentials on the connection:
 * - `account_sid` and `auth_token`: the account (or subaccount) and its auth token;
 * - `from` (a Twilio number in E.164) or `messaging_service_sid` (a Messaging Service, which then
 *   picks the sender); when both are set the Messaging Service is used.
 * `baseUrl` overrides `https://api.twilio.com`. Twilio has no idempotency key on Messages: a
 * resend after a lost answer can duplicate an SMS (the at-least-once window of SPEC §4).
 */
import type { ChannelAdapter, OutboundResponse, RecipientContact, SendResult } from '../adapter';
import { apiRoot, e164, missingCredentials, optionalCredential, requireCredentials } from './connection-settings';
import { classifyByStatus, exchange, failed, isRecord, isSuccess, parseJson, resultFor, ruleForStatus, type StatusRule } from './outcomes';

const PUBLIC_ROOT = 'https://api.twilio.com';

/** Codes read from the error body (twilio.com/docs/api/errors); any other 4xx is permanent. */
const RULES: ReadonlyMap<number, StatusRule> = new Map<number, StatusRule>([
  [20429, 'throttled'], // too many requests: always safe to retry
  [21611, 'throttled'], // the `From` number's queue is full
  [20003, 'fault'], // authenticate: wrong account sid or auth token
  [20005, 'fault'], // account not active
  [21212, 'fault'], // invalid `From` number
  [21606, 'fault'], // `From` is not a message-capable Twilio number
  [21211, 'failed'], // invalid `To`
  [21610, 'failed'], // the recipient replied STOP
  [21612, 'failed'], // not reachable from this `From`
  [21614, 'failed'], // not a mobile number
]);

export const twilioAdapter: ChannelAdapter = {
  provider: 'twilio',
  receiptsByProviderId: true,
  recipient,

  async send(connection, message, http) {
    const required = requireCredentials(connection, ['account_sid', 'auth_token']);
    if ('fault' in required) return required.fault;
    const { account_sid: accountSid, auth_token: authToken } = required.credentials;
    const messagingServiceSid = optionalCredential(connection, 'messaging_service_sid');
    const from = optionalCredential(connection, 'from');
    if (!messagingServiceSid && !from) return missingCredentials('from or messaging_service_sid');
    const to = recipient(message.contact);
    if (to === null) return failed('unreachable', 'the contact has no usable phone number');

    const form = new URLSearchParams({ To: to, Body: message.text });
    if (messagingServiceSid) form.set('MessagingServiceSid', messagingServiceSid);
    else if (from) form.set('From', from);
    const sent = await exchange(http, {
      method: 'POST',
      url: `${apiRoot(connection, PUBLIC_ROOT)}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`,
      headers: {
        Authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      },
      body: form.toString(),
    });
    if ('result' in sent) return sent.result;
    const { response } = sent;
    if (!isSuccess(response)) return classifyTwilioError(response);
    const body = parseJson(response.body);
    const sid = isRecord(body) ? body['sid'] : undefined;
    return { outcome: 'sent', providerMessageId: typeof sid === 'string' ? sid : null };
  },
};

/** E.164 with its `+`, as Twilio wants `To`. */
function recipient(contact: RecipientContact): string | null {
  return e164(contact.user_phone_number ?? contact.user_id);
}

/** `{"code":21211,"message":"…","more_info":"…","status":400}` */
function classifyTwilioError(response: OutboundResponse): SendResult {
  const body = parseJson(response.body);
  if (!isRecord(body) || typeof body['code'] !== 'number') return classifyByStatus(response);
  const code = body['code'];
  const message = typeof body['message'] === 'string' ? body['message'] : `Twilio error ${code}`;
  const result = resultFor(RULES.get(code) ?? ruleForStatus(response.status), response, String(code), message);
  // 21610: the recipient replied STOP to this sender; Twilio refuses every send until START.
  return code === 21610 && result.outcome === 'failed' ? { ...result, optOut: 'replied STOP (Twilio 21610)' } : result;
}
