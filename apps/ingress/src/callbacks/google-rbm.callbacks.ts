/**
 * RCS Business Messaging (Google) agent events, pushed to the partner webhook:
 * - the webhook's verification: `POST {clientToken, secret}`, answered with `secret` alone when
 *   `clientToken` is the connection's `client_token` credential;
 * - events: `{message: {data, messageId, publishTime}, subscription}`, `data` the base64 of the
 *   event (`{senderPhoneNumber, eventType: DELIVERED | READ | IS_TYPING, messageId, sendTime,
 *   agentId}`, UNSUBSCRIBE / SUBSCRIBE, or a user message `{senderPhoneNumber, text, …}`), signed `X-Goog-Signature`:
 *   base64 HMAC-SHA512 of the decoded `data`, keyed with the client token.
 * The `messageId` of an event is the one Herald chose when sending (a UUID of the delivery).
 */
import { createHmac } from 'node:crypto';
import { optOutIntent, secretsEqual } from '@herald/core';
import { accepted, credential, isRecord, parseJsonBody, plausibleTime, refused, type CallbackEffects, type ProviderCallbacks } from './provider-callbacks';

export const googleRbmCallbacks: ProviderCallbacks = {
  methods: ['POST'],
  // One partner webhook serves every agent of the partner.
  shared: { secretName: 'client_token', scopeName: 'agent_id' },
  handle(connection, request) {
    const clientToken = credential(connection, 'client_token');
    if (!clientToken) return refused(403, 'this connection has no client_token credential to verify RBM webhooks with');
    const body = parseJsonBody(request.rawBody);
    if (!isRecord(body)) return refused(400, 'the body is not a JSON object');

    if (typeof body['clientToken'] === 'string' && typeof body['secret'] === 'string') {
      if (!secretsEqual(body['clientToken'], clientToken)) return refused(403, 'clientToken does not match');
      return { outcome: 'answered', answer: { status: 200, contentType: 'text/plain; charset=utf-8', body: body['secret'] } };
    }
    const message = body['message'];
    const data = isRecord(message) && typeof message['data'] === 'string' ? Buffer.from(message['data'], 'base64') : undefined;
    if (!data) return refused(400, 'an RBM event carries message.data');
    const expected = createHmac('sha512', clientToken).update(data).digest('base64');
    if (!secretsEqual(request.header('x-goog-signature') ?? '', expected)) return refused(401, 'X-Goog-Signature does not match the event');

    const event = parseJsonBody(data);
    const effects: CallbackEffects = { receipts: [], optOuts: [] };
    if (!isRecord(event)) return accepted(effects);
    const at = typeof event['sendTime'] === 'string' ? plausibleTime(new Date(event['sendTime']), request.receivedAt) : request.receivedAt;
    const via = typeof event['agentId'] === 'string' ? { via: event['agentId'] } : {};
    const messageId = event['messageId'];
    if (typeof messageId === 'string') {
      if (event['eventType'] === 'DELIVERED') effects.receipts.push({ providerMessageId: messageId, deliveredAt: at, ...via });
      if (event['eventType'] === 'READ') effects.receipts.push({ providerMessageId: messageId, readAt: at, ...via });
    }
    // UNSUBSCRIBE / SUBSCRIBE: the user turned the agent's messages off or on in their client.
    const sender = event['senderPhoneNumber'];
    if (typeof sender === 'string' && event['eventType'] === 'UNSUBSCRIBE')
      effects.optOuts.push({ address: sender, optOut: true, reason: 'unsubscribed (RCS)', at, ...via });
    if (typeof sender === 'string' && event['eventType'] === 'SUBSCRIBE')
      effects.optOuts.push({ address: sender, optOut: false, reason: 'subscribed (RCS)', at, ...via });
    // A reply of STOP (or START) on RCS, which is a phone channel like SMS.
    if (typeof event['text'] === 'string' && typeof sender === 'string') {
      const intent = optOutIntent(event['text']);
      const keyword = event['text'].trim().slice(0, 40).toUpperCase();
      if (intent) effects.optOuts.push({ address: sender, optOut: intent === 'opt_out', reason: `replied ${keyword} (RCS)`, at, ...via });
    }
    return accepted(effects);
  },
};
