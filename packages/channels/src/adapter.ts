import type { ChannelName } from '@herald/core';

/**
 * The one interface every provider adapter implements (SPEC §4). An adapter turns one rendered
 * message into one request of its provider's public API and classifies the answer; it never
 * retries, sleeps or throttles (the delivery stage owns all three, shared across workers).
 */

/** A channel connection as an adapter sees it: where to send and with which credentials. */
export interface ConnectionSettings {
  id: string;
  channel: ChannelName;
  provider: string;
  /** Provider credentials by name (e.g. `access_token`, `phone_number_id`). Never logged. */
  credentials: Readonly<Record<string, string>>;
  /** Overrides the provider's public API root (tests, self-hosted gateways). No trailing slash needed. */
  baseUrl: string | null;
}

/** The contact fields an adapter may address a message with. */
export interface RecipientContact {
  user_id: string;
  bot_channel: ChannelName;
  user_phone_number: string | null;
  first_name: string | null;
  last_name: string | null;
  user_name: string | null;
  locale: string | null;
}

/** A WhatsApp template message, its body parameters already rendered for the contact. */
export interface RenderedTemplate {
  name: string;
  language: string;
  bodyParameters: string[];
}

/** One message to one contact, rendered. */
export interface OutboundMessage {
  deliveryId: string;
  runId: string;
  broadcastId: string;
  botId: string;
  contact: RecipientContact;
  /** The rendered text (empty only when a template carries the message). */
  text: string;
  /** WhatsApp: send this approved template instead of text (outside the 24-hour window). */
  template?: RenderedTemplate;
  /** Messenger: the message tag that allows a message outside the 24-hour window. */
  messageTag?: string;
}

/**
 * How one send ended, classified from the provider's answer (its error body, not only the
 * HTTP status):
 * - `sent`: the provider accepted the message;
 * - `retry`: a temporary problem (throttled, 5xx, timeout, reset); try again, not before
 *   `retryAfterMs` when the provider said so. `throttled` marks the provider's own rate limit
 *   being hit: the whole connection then pauses for every worker;
 * - `failed`: permanent for this recipient (invalid number, blocked, not found): never retried;
 * - `connection_fault`: the connection itself is broken (rejected credentials, a destination
 *   refused by policy): stop calling it until it is reconfigured.
 * `code` is the provider's own error code where it gives one (e.g. `131026`, `21211`,
 * `http_503`, `timeout`), `message` its message: both end up on the delivery.
 */
export type SendResult =
  | { outcome: 'sent'; providerMessageId: string | null }
  | { outcome: 'retry'; code: string; message: string; retryAfterMs?: number; throttled?: boolean }
  /** `optOut`: the provider says the person opted out or blocked the sender (why, for the contact). */
  | { outcome: 'failed'; code: string; message: string; optOut?: string }
  | { outcome: 'connection_fault'; code: string; message: string };

/** A request as an adapter makes it; the outbound client checks the destination and sends it. */
export interface OutboundRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface OutboundResponse {
  status: number;
  headers: Readonly<Record<string, string | undefined>>;
  body: string;
}

/**
 * The HTTP client adapters send through (see `http/outbound-client.ts`). It throws
 * `OutboundError` for what never produced an answer: a refused destination, a timeout, a
 * reset, a redirect (never followed).
 */
export interface OutboundHttp {
  request(request: OutboundRequest): Promise<OutboundResponse>;
}

export interface ChannelAdapter {
  /** The provider name a channel connection names (`PROVIDERS_BY_CHANNEL` in core). */
  readonly provider: string;
  /**
   * The address this contact has on the provider (phone number, chat id, PSID…), or null when
   * the contact cannot be reached there (its delivery is skipped as `unreachable`).
   */
  recipient(contact: RecipientContact): string | null;
  /**
   * True when the provider's receipts name a message by the id it gave at the send (WhatsApp,
   * Messenger, Twilio, RBM): that id is then kept per connection (`provider_messages`) for them
   * to find the delivery. Not for custom endpoints (they report Herald's delivery id) nor
   * Telegram (no receipts; ids unique only within a chat): the row would cost every send.
   */
  readonly receiptsByProviderId?: true;
  /** Sends one message. Never throws for a provider's answer or a network fault: classifies it. */
  send(connection: ConnectionSettings, message: OutboundMessage, http: OutboundHttp): Promise<SendResult>;
}
