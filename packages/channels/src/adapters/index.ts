import type { ChannelAdapter } from '../adapter';
import { customAdapter } from './custom.adapter';
import { googleRbmAdapter } from './google-rbm.adapter';
import { messengerAdapter } from './messenger.adapter';
import { telegramAdapter } from './telegram.adapter';
import { twilioAdapter } from './twilio.adapter';
import { whatsappCloudAdapter } from './whatsapp-cloud.adapter';

/**
 * The adapter for each provider a channel connection can name (`PROVIDERS_BY_CHANNEL` in core).
 * `web` has none: web chat messages go to the contact's outbox, not to a provider.
 */
const ADAPTERS: ReadonlyMap<string, ChannelAdapter> = new Map(
  [whatsappCloudAdapter, twilioAdapter, googleRbmAdapter, telegramAdapter, messengerAdapter, customAdapter].map((adapter) => [adapter.provider, adapter]),
);

export function adapterFor(provider: string): ChannelAdapter | undefined {
  return ADAPTERS.get(provider);
}

export { customAdapter, googleRbmAdapter, messengerAdapter, telegramAdapter, twilioAdapter, whatsappCloudAdapter };
export { rbmMessageId } from './google-rbm.adapter';
