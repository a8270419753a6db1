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
