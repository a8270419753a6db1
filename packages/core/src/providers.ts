import type { ChannelName } from './channels';

/**
 * The provider behind each channel (SPEC §4): the public API a channel connection talks to.
 * One per channel for now; a channel reachable through several providers lists them all.
 */
export const PROVIDERS_BY_CHANNEL: Readonly<Record<ChannelName, readonly string[]>> = {
  WhatsAppChannel: ['whatsapp_cloud'],
  SMSChannel: ['twilio'],
  RCSChannel: ['google_rbm'],
  TelegramChannel: ['telegram'],
  FacebookChannel: ['messenger'],
  WebChannel: ['web'],
  CustomChannel: ['custom'],
};

/**
 * Messages per second a connection sends when its `rate_limit_per_second` is not set: the
 * provider's documented default for one sender (SPEC §4). Null: no limit of Herald's own
 * (the receiver is yours, or the "send" is a database write); a 429 still pauses it.
 */
export const DEFAULT_RATE_PER_SECOND: Readonly<Record<string, number | null>> = {
  whatsapp_cloud: 80, // Cloud API, per business phone number
  twilio: 1, // an SMS long code; set it for toll-free (3) or short codes (100+)
  telegram: 30, // a bot in bulk
  messenger: 250, // Send API per Page, below the ~300 calls/s for text
  google_rbm: 100,
  custom: null,
  web: null,
};

/** The rate a connection is held to: its own `rate_limit_per_second`, else its provider's default. */
export function effectiveRatePerSecond(provider: string, ratePerSecond: number | null): number | null {
  return ratePerSecond ?? DEFAULT_RATE_PER_SECOND[provider] ?? null;
}
