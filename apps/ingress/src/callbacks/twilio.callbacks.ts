/**
 * Twilio's webhooks for an SMS connection, both on the connection's callback URL:
 * - status callbacks (`MessageStatus`: delivered, read, undelivered, failed with `ErrorCode`),
 *   set as the Messaging Service's (or number's) status callback URL;
 * - inbound messages (`Body`), set as its incoming message URL: a STOP-type keyword, or
 *   Advanced Opt-Out's `OptOutType`, opts the sender out; START opts them back in.
 * Both are signed `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the account's auth token,
 * of the URL Twilio called followed by every POST parameter, sorted by name, as name + value.
 * That URL is PUBLIC_URL + the path: behind a proxy, PUBLIC_URL must be what Twilio calls.
 */
import { createHmac } from 'node:crypto';
import { optOutIntent, secretsEqual } from '@herald/core';
import { accepted, refused, type CallbackEffects, type CallbackRequest, type ProviderCallbacks, credential } from './provider-callbacks';

/** Twilio's "the recipient replied STOP": a send refused for it opts the contact out. */
const UNSUBSCRIBED_RECIPIENT = '21610';

/** An empty TwiML document: Twilio sends no reply to the inbound message. */
const EMPTY_TWIML = { status: 200, contentType: 'text/xml; charset=utf-8', body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>\n' };

export const twilioCallbacks: ProviderCallbacks = {
  methods: ['POST'],
  handle(connection, request) {
    const authToken = credential(connection, 'auth_token');
    if (!authToken) return refused(403, 'this connection has no auth_token credential to verify Twilio webhooks with');
    const params = new URLSearchParams(request.rawBody.toString('utf8'));
    const presented = request.header('x-twilio-signature') ?? '';
    // Every candidate is compared (no early exit), each in constant time.
    const matches = urlVariants(request.publicUrl).map((url) => secretsEqual(presented, twilioSignature(authToken, url, params)));
    if (!matches.includes(true)) {
      // The usual cause is not a forgery but a URL Herald rebuilt differently from Twilio's.
      return refused(
        401,
        `X-Twilio-Signature does not match a signature over ${request.publicUrl}: check the auth_token and that PUBLIC_URL is the address Twilio calls`,
      );
    }
    return accepted(readTwilioParams(params, request), EMPTY_TWIML);
  },
};

/** The signature Twilio computes for a form-encoded POST to `url` (as twilio-node's validateRequest). */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const names = [...new Set(params.keys())].sort();
  let data = url;
  // A repeated name counts each distinct value once, values sorted (twilio-node does the same).
  for (const name of names) for (const value of [...new Set(params.getAll(name))].sort()) data += name + value;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * The URL as given, and with its scheme's default port written out or dropped: Twilio signs
 * the URL as configured, which may or may not name the port (twilio-node accepts both).
 */
function urlVariants(publicUrl: string): string[] {
  const url = new URL(publicUrl);
  // `new URL` drops a default port, even when PUBLIC_URL writes it out: build both forms.
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  const userInfo = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
  const at = (port: string) => `${url.protocol}//${userInfo}${url.hostname}${port}${url.pathname}${url.search}`;
  if (url.port !== '') return [publicUrl];
  return [...new Set([publicUrl, at(''), at(`:${defaultPort}`)])];
}

function readTwilioParams(params: URLSearchParams, request: CallbackRequest): CallbackEffects {
  const effects: CallbackEffects = { receipts: [], optOuts: [] };
  const at = request.receivedAt; // Twilio's callbacks carry no event time
  const sid = params.get('MessageSid') ?? params.get('SmsSid');
  const status = params.get('MessageStatus');
  if (status !== null && sid) {
    const code = params.get('ErrorCode') || status;
    if (status === 'delivered') effects.receipts.push({ providerMessageId: sid, deliveredAt: at });
    if (status === 'read') effects.receipts.push({ providerMessageId: sid, readAt: at });
    if (status === 'undelivered' || status === 'failed') {
      effects.receipts.push({
        providerMessageId: sid,
        failure: { at, code, message: `Twilio reported the message ${status}${code === status ? '' : ` (error ${code})`}` },
        // The person the message went to replied STOP: that contact (found by the message) opts out.
        ...(code === UNSUBSCRIBED_RECIPIENT ? { optOutReason: 'replied STOP (Twilio 21610)' } : {}),
      });
    }
    return effects;
  }
  // An inbound message. Advanced Opt-Out names what it did; without it, the keyword decides.
  const from = params.get('From');
  const body = params.get('Body');
  if (!from || body === null) return effects;
  const optOutType = params.get('OptOutType')?.toUpperCase();
  const intent = optOutType === 'STOP' ? 'opt_out' : optOutType === 'START' ? 'opt_in' : optOutType ? undefined : optOutIntent(body);
  const keyword = body.trim().slice(0, 40).toUpperCase();
  if (intent === 'opt_out') effects.optOuts.push({ address: from, optOut: true, reason: `replied ${keyword} (SMS)`, at });
  if (intent === 'opt_in') effects.optOuts.push({ address: from, optOut: false, reason: `replied ${keyword} (SMS)`, at });
  return effects;
}
