/**
 * Channel names follow the vendor's `bot_channel` values. They are matched case-insensitively
 * and accept short aliases, so `whatsapp`, `WHATSAPPCHANNEL` and `WhatsAppChannel` are one
 * channel. Everything stored uses the canonical spelling.
 */
export const CHANNEL_NAMES = ['WhatsAppChannel', 'SMSChannel', 'RCSChannel', 'TelegramChannel', 'FacebookChannel', 'WebChannel', 'CustomChannel'] as const;

export type ChannelName = (typeof CHANNEL_NAMES)[number];

const ALIASES: Readonly<Record<string, ChannelName>> = {
  whatsapp: 'WhatsAppChannel',
  sms: 'SMSChannel',
  rcs: 'RCSChannel',
  telegram: 'TelegramChannel',
  facebook: 'FacebookChannel',
  messenger: 'FacebookChannel',
  web: 'WebChannel',
  custom: 'CustomChannel',
};

const BY_LOWERCASE: ReadonlyMap<string, ChannelName> = new Map<string, ChannelName>([
  ...CHANNEL_NAMES.map((name) => [name.toLowerCase(), name] as const),
  ...Object.entries(ALIASES),
]);

/** The canonical channel for a name or alias, or undefined when it names no channel. */
export function resolveChannel(input: string): ChannelName | undefined {
  return BY_LOWERCASE.get(input.trim().toLowerCase());
}

/** Every spelling accepted by `resolveChannel`, for error messages ("expected one of …"). */
export function acceptedChannelSpellings(): string[] {
  return [...CHANNEL_NAMES, ...Object.keys(ALIASES)];
}

/** On these channels a contact's `user_id` is its phone number (either one fills the other). */
const PHONE_CHANNELS: ReadonlySet<ChannelName> = new Set<ChannelName>(['WhatsAppChannel', 'SMSChannel', 'RCSChannel']);

export function isPhoneChannel(channel: ChannelName): boolean {
  return PHONE_CHANNELS.has(channel);
}

/** A channel's override of a broadcast's message (SPEC §5), as stored. */
export interface ChannelOverride {
  text?: string;
  /** WhatsAppChannel only: an approved template. `parameters` is the name older broadcasts were stored with. */
  template?: { name: string; language?: string; body_parameters?: string[]; parameters?: string[] };
  /** FacebookChannel only: the message tag. */
  message_tag?: string;
}

/** A broadcast's message as stored: its text, and per-channel overrides under canonical names. */
export interface BroadcastMessage {
  text: string;
  channels?: Partial<Record<ChannelName, ChannelOverride>>;
}
