/**
 * WhatsApp through Meta's Cloud API: `POST {root}/{api_version}/{phone_number_id}/messages`.
 *
 * Credentials on the connection:
 * - `access_token`: a system-user (or app) access token with `whatsapp_business_messaging`;
 * - `phone_number_id`: the business phone number's id (not the number itself);
 * - `api_version` (optional): the Graph API version, `v23.0` by default.
 * `baseUrl` overrides `https://graph.facebook.com`.
 */
import type { ChannelAdapter, OutboundMessage, RecipientContact } from '../adapter';
import { apiRoot, e164, optionalCredential, requireCredentials } from './connection-settings';
import { classifyGraphError, type GraphRules } from './graph-errors';
import { exchange, failed, isRecord, isSuccess, parseJson } from './outcomes';

const PUBLIC_ROOT = 'https://graph.facebook.com';
const DEFAULT_API_VERSION = 'v23.0';
/** Meta echoes `biz_opaque_callback_data` in status webhooks, up to 512 bytes. */
const MAX_CALLBACK_DATA_BYTES = 512;

/**
 * Codes read from the error body (see Meta's "Error codes" page); any other 4xx is permanent.
 * 131056 is the per-recipient pair rate (~1 message / 6 s to one user): retried, but it must not
 * pause the whole connection, so it is not `throttled`.
 */
const RULES: GraphRules = new Map([
  [130429, 'throttled'], // throughput reached
  [4, 'throttled'], // application request limit
  [80007, 'throttled'], // WABA rate limit
  [131056, 'retry'], // pair rate limit
  [131000, 'retry'], // something went wrong
  [131016, 'retry'], // service unavailable
  [1, 'retry'], // API unknown (possibly a server error)
  [2, 'retry'], // API service, temporary
  [190, 'fault'], // access token expired or invalid
  [0, 'fault'], // AuthException
  [3, 'fault'], // the app lacks the capability
  [10, 'fault'], // permission denied
  [131005, 'fault'], // access denied
  [131031, 'fault'], // business account locked
  [133010, 'fault'], // phone number not registered on the Cloud API
  [131026, 'failed'], // undeliverable to this recipient
  [131047, 'failed'], // outside the 24-hour window: only templates are delivered
  [100, 'failed'], // invalid parameter
]);

/** 131050: the person stopped marketing messages from this business. */
const OPT_OUTS = new Map([[131050, 'stopped marketing messages (WhatsApp 131050)']]);

export const whatsappCloudAdapter: ChannelAdapter = {
  provider: 'whatsapp_cloud',
  receiptsByProviderId: true,

  recipient,

  async send(connection, message, http) {
    const required = requireCredentials(connection, ['access_token', 'phone_number_id']);
    if ('fault' in required) return required.fault;
    const { access_token: accessToken, phone_number_id: phoneNumberId } = required.credentials;
    const to = recipient(message.contact);
    if (to === null) return failed('unreachable', 'the contact has no usable phone number');
    const version = optionalCredential(connection, 'api_version') ?? DEFAULT_API_VERSION;

    const sent = await exchange(http, {
      method: 'POST',
      url: `${apiRoot(connection, PUBLIC_ROOT)}/${encodeURIComponent(version)}/${encodeURIComponent(phoneNumberId)}/messages`,
      headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(whatsappBody(to, message)),
    });
    if ('result' in sent) return sent.result;
    const { response } = sent;
    if (!isSuccess(response)) return classifyGraphError(response, RULES, OPT_OUTS);
    const body = parseJson(response.body);
    const messages = isRecord(body) && Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : [];
    const first = messages[0];
    return { outcome: 'sent', providerMessageId: isRecord(first) && typeof first['id'] === 'string' ? first['id'] : null };
  },
};

/** Digits only, country code first, as Meta wants `to`. */
function recipient(contact: RecipientContact): string | null {
  return e164(contact.user_phone_number ?? contact.user_id)?.slice(1) ?? null;
}

function whatsappBody(to: string, message: OutboundMessage): Record<string, unknown> {
  const envelope = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    biz_opaque_callback_data: truncateBytes(message.deliveryId, MAX_CALLBACK_DATA_BYTES),
  };
  const { template } = message;
  if (!template) return { ...envelope, type: 'text', text: { preview_url: false, body: message.text } };
  const parameters = template.bodyParameters.map((text) => ({ type: 'text', text }));
  return {
    ...envelope,
    type: 'template',
    template: {
      name: template.name,
      language: { code: template.language },
      ...(parameters.length > 0 ? { components: [{ type: 'body', parameters }] } : {}),
    },
  };
}

function truncateBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  // toString on a cut multi-byte character yields U+FFFD: drop it rather than send it
  return bytes.length <= maxBytes
    ? text
    : bytes
        .subarray(0, maxBytes)
        .toString('utf8')
        .replace(/\uFFFD+$/, '');
}
