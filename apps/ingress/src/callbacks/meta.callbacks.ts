/**
 * Meta's webhooks, for WhatsApp Cloud API and Messenger connections: one app, one scheme.
 * - `GET` is the subscription handshake: `hub.mode=subscribe`, `hub.verify_token` (the
 *   connection's `verify_token` credential) and `hub.challenge`, answered with the challenge
 *   alone, and only when the token matches.
 * - `POST` carries events, signed `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw
 *   body with the app secret (the connection's `app_secret` credential).
 */
import { secretsEqual, sha256Signature } from '@herald/core';
import {
  accepted,
  credential,
  isRecord,
  parseJsonBody,
  plausibleTime,
  records,
  refused,
  unixSeconds,
  type CallbackConnection,
  type CallbackEffects,
  type CallbackOutcome,
  type CallbackRequest,
  type ProviderCallbacks,
} from './provider-callbacks';

/** WhatsApp's "this person stopped marketing messages from you": the block it reports. */
const WHATSAPP_STOPPED_MARKETING = '131050';

export const metaCallbacks: ProviderCallbacks = {
  methods: ['GET', 'POST'],
  // One Meta app's webhook serves each WhatsApp number of the app (Messenger: see the docs).
  shared: { secretName: 'app_secret', scopeName: 'phone_number_id' },
  handle(connection, request) {
    if (request.method === 'GET') return handshake(connection, request);
    const appSecret = credential(connection, 'app_secret');
    if (!appSecret) return refused(403, 'this connection has no app_secret credential to verify Meta webhooks with');
    const presented = request.header('x-hub-signature-256') ?? '';
    const expected = sha256Signature(appSecret, request.rawBody);
    if (!secretsEqual(presented, expected)) return refused(401, 'X-Hub-Signature-256 does not match the body');

    const body = parseJsonBody(request.rawBody);
    if (!isRecord(body)) return refused(400, 'the body is not a JSON object');
    const effects: CallbackEffects = { receipts: [], optOuts: [] };
    for (const entry of records(body['entry'])) {
      if (connection.provider === 'messenger') readMessengerEntry(entry, request.receivedAt, effects);
      else readWhatsAppEntry(entry, request.receivedAt, effects);
    }
    return accepted(effects);
  },
};

function handshake(connection: CallbackConnection, request: CallbackRequest): CallbackOutcome {
  const verifyToken = credential(connection, 'verify_token');
  if (!verifyToken) return refused(403, 'this connection has no verify_token credential');
  const challenge = request.query.get('hub.challenge');
  if (request.query.get('hub.mode') !== 'subscribe' || challenge === null) {
    return refused(400, 'a Meta handshake has hub.mode=subscribe, hub.verify_token and hub.challenge');
  }
  if (!secretsEqual(request.query.get('hub.verify_token') ?? '', verifyToken)) return refused(403, 'hub.verify_token does not match');
  return { outcome: 'answered', answer: { status: 200, contentType: 'text/plain; charset=utf-8', body: challenge } };
}

/** `entry[].changes[]` of field `messages` (statuses) and `user_preferences` (marketing stop/resume). */
function readWhatsAppEntry(entry: Record<string, unknown>, receivedAt: Date, effects: CallbackEffects): void {
  for (const change of records(entry['changes'])) {
    const value = isRecord(change['value']) ? change['value'] : {};
    const metadata = isRecord(value['metadata']) ? value['metadata'] : {};
    const via = typeof metadata['phone_number_id'] === 'string' ? { via: metadata['phone_number_id'] } : {};
    for (const status of records(value['statuses'])) {
      const id = status['id'];
      if (typeof id !== 'string') continue;
      const at = unixSeconds(status['timestamp'], receivedAt);
      switch (status['status']) {
        case 'delivered':
          effects.receipts.push({ providerMessageId: id, deliveredAt: at, ...via });
          break;
        case 'read':
          effects.receipts.push({ providerMessageId: id, readAt: at, ...via });
          break;
        case 'failed': {
          const error = records(status['errors'])[0] ?? {};
          const code = String(error['code'] ?? 'failed');
          effects.receipts.push({
            providerMessageId: id,
            ...via,
            failure: { at, code, message: describeGraphError(error) },
            ...(code === WHATSAPP_STOPPED_MARKETING ? { optOutReason: 'stopped marketing messages (WhatsApp 131050)' } : {}),
          });
          break;
        }
        default: // `sent` (Herald knows) and kinds added later
      }
    }
    for (const preference of records(value['user_preferences'])) {
      const address = preference['wa_id'];
      if (typeof address !== 'string' || preference['category'] !== 'marketing_messages') continue;
      const at = unixSeconds(preference['timestamp'], receivedAt);
      if (preference['value'] === 'stop') effects.optOuts.push({ address, optOut: true, reason: 'stopped marketing messages (WhatsApp)', at, ...via });
      if (preference['value'] === 'resume') effects.optOuts.push({ address, optOut: false, reason: 'resumed marketing messages (WhatsApp)', at, ...via });
    }
  }
}

/** `entry[].messaging[]`: deliveries (by message id, or watermark), reads (by watermark), notification opt-outs. */
function readMessengerEntry(entry: Record<string, unknown>, receivedAt: Date, effects: CallbackEffects): void {
  for (const event of records(entry['messaging'])) {
    const sender = isRecord(event['sender']) ? event['sender']['id'] : undefined;
    const delivery = event['delivery'];
    if (isRecord(delivery)) {
      const at = millis(delivery['watermark'], receivedAt);
      const mids = Array.isArray(delivery['mids']) ? delivery['mids'].filter((mid): mid is string => typeof mid === 'string') : [];
      for (const mid of mids) effects.receipts.push({ providerMessageId: mid, deliveredAt: at });
      if (mids.length === 0 && typeof sender === 'string') effects.receipts.push({ watermarkAddress: sender, deliveredAt: at });
    }
    const read = event['read'];
    if (isRecord(read) && typeof sender === 'string') effects.receipts.push({ watermarkAddress: sender, readAt: millis(read['watermark'], receivedAt) });
    // A person who turns off a page's marketing messages: Messenger's opt-out, and its undoing.
    const optin = event['optin'];
    if (isRecord(optin) && typeof sender === 'string') {
      const at = millis(event['timestamp'], receivedAt);
      // Documented with a space; some senders write an underscore.
      const status = String(optin['notification_messages_status']).replace('_', ' ');
      if (status === 'STOP NOTIFICATIONS') effects.optOuts.push({ address: sender, optOut: true, reason: 'stopped notifications (Messenger)', at });
      if (status === 'RESUME NOTIFICATIONS') effects.optOuts.push({ address: sender, optOut: false, reason: 'resumed notifications (Messenger)', at });
    }
  }
}

/** Messenger times are Unix milliseconds. */
function millis(value: unknown, fallback: Date): Date {
  return typeof value === 'number' ? plausibleTime(new Date(value), fallback) : fallback;
}

/** `{code, title, message, error_data: {details}}` as one line, for the delivery's last_error. */
function describeGraphError(error: Record<string, unknown>): string {
  const details = isRecord(error['error_data']) ? error['error_data']['details'] : undefined;
  const parts = [error['title'], error['message'], details].filter((part): part is string => typeof part === 'string' && part.length > 0);
  return [...new Set(parts)].join(': ') || 'the provider reported a failure';
}
