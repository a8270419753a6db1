/**
 * RCS through Google's RCS Business Messaging API:
 * `POST {root}/v1/phones/{E.164}/agentMessages?messageId={uuid}&agentId={agent_id}`.
 *
 * Credentials on the connection:
 * - `service_account_json`: the service-account key file Google gives (JSON with
 *   `client_email`, `private_key`, `token_uri`); its access tokens are cached per connection;
 * - `agent_id`: the RBM agent's id.
 * `baseUrl` overrides `https://rcsbusinessmessaging.googleapis.com` (the token endpoint is the
 * key file's `token_uri`).
 */
import { createHash } from 'node:crypto';
import type { ChannelAdapter, ConnectionSettings, OutboundHttp, OutboundMessage, OutboundResponse, RecipientContact, SendResult } from '../adapter';
import { apiRoot, e164, requireCredentials } from './connection-settings';
import { accessToken, forgetAccessToken, serviceAccountFor } from './google-service-account';
import {
  bodyExcerpt,
  classifyByStatus,
  connectionFault,
  exchange,
  failed,
  isRecord,
  isSuccess,
  parseJson,
  resultFor,
  ruleForStatus,
  type StatusRule,
} from './outcomes';

const PUBLIC_ROOT = 'https://rcsbusinessmessaging.googleapis.com';
const RBM_SCOPE = 'https://www.googleapis.com/auth/rcsbusinessmessaging';

/** Google's canonical error statuses (`error.status`); anything else is read from the HTTP status. */
const RULES: ReadonlyMap<string, StatusRule> = new Map<string, StatusRule>([
  ['RESOURCE_EXHAUSTED', 'throttled'],
  ['INTERNAL', 'retry'],
  ['UNAVAILABLE', 'retry'],
  ['DEADLINE_EXCEEDED', 'retry'],
  ['ABORTED', 'retry'],
  ['UNAUTHENTICATED', 'fault'],
  ['PERMISSION_DENIED', 'fault'],
  ['NOT_FOUND', 'failed'], // the user's device cannot receive RCS
  ['INVALID_ARGUMENT', 'failed'],
  ['FAILED_PRECONDITION', 'failed'],
]);

export const googleRbmAdapter: ChannelAdapter = {
  provider: 'google_rbm',
  receiptsByProviderId: true,
  recipient,

  async send(connection, message, http) {
    const required = requireCredentials(connection, ['service_account_json', 'agent_id']);
    if ('fault' in required) return required.fault;
    const { service_account_json: keyFile, agent_id: agentId } = required.credentials;
    const account = serviceAccountFor(connection.id, keyFile);
    if ('problem' in account) return connectionFault('invalid_credentials', account.problem);
    const phone = recipient(message.contact);
    if (phone === null) return failed('unreachable', 'the contact has no usable phone number');
    const messageId = rbmMessageId(message.deliveryId);
    const tokenRequest = { connectionId: connection.id, keyFile, account, scope: RBM_SCOPE, http };

    const token = await accessToken(tokenRequest);
    if ('result' in token) return token.result;
    const first = await sendWith(token.accessToken, { connection, message, http, phone, agentId, messageId });
    // A cached token the API rejects was revoked or expired early: get a fresh one and send
    // once more (same messageId, so RBM ignores the message if the first one got through).
    const rejected = token.cached && 'response' in first && first.response.status === 401;
    if (!rejected) return classifyRbm(first, messageId);
    forgetAccessToken(connection.id);
    const fresh = await accessToken(tokenRequest);
    if ('result' in fresh) return fresh.result;
    const second = await sendWith(fresh.accessToken, { connection, message, http, phone, agentId, messageId });
    return classifyRbm(second, messageId);
  },
};

/** E.164 with its `+`, as RBM wants it in the path. */
function recipient(contact: RecipientContact): string | null {
  return e164(contact.user_phone_number ?? contact.user_id);
}

/**
 * The RBM `messageId` of a delivery: a name-based UUID (SHA-1, v5 layout) of the delivery id,
 * the same on every attempt, so a resend after a lost answer is ignored by RBM (409).
 */
export function rbmMessageId(deliveryId: string): string {
  const bytes = createHash('sha1').update(`herald-delivery:${deliveryId}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

interface RbmSend {
  connection: ConnectionSettings;
  message: OutboundMessage;
  http: OutboundHttp;
  phone: string;
  agentId: string;
  messageId: string;
}

function sendWith(token: string, send: RbmSend) {
  const query = new URLSearchParams({ messageId: send.messageId, agentId: send.agentId });
  return exchange(send.http, {
    method: 'POST',
    url: `${apiRoot(send.connection, PUBLIC_ROOT)}/v1/phones/${encodeURIComponent(send.phone)}/agentMessages?${query}`,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ contentMessage: { text: send.message.text } }),
  });
}

function classifyRbm(sent: { response: OutboundResponse } | { result: SendResult }, messageId: string): SendResult {
  if ('result' in sent) return sent.result;
  const { response } = sent;
  if (isSuccess(response)) return { outcome: 'sent', providerMessageId: messageId };
  const body = parseJson(response.body);
  const error = isRecord(body) ? body['error'] : undefined;
  if (!isRecord(error)) {
    return response.status === 403 ? connectionFault('http_403', bodyExcerpt(response)) : classifyByStatus(response);
  }
  const status = typeof error['status'] === 'string' ? error['status'] : `http_${response.status}`;
  // The first send of this messageId got through (its answer was lost): that is success.
  if (status === 'ALREADY_EXISTS' || response.status === 409) return { outcome: 'sent', providerMessageId: messageId };
  const message = typeof error['message'] === 'string' ? error['message'] : status;
  const rule = RULES.get(status) ?? (response.status === 403 ? 'fault' : ruleForStatus(response.status));
  return resultFor(rule, response, status, message);
}
