/**
 * Telegram's updates, for a bot whose webhook (`setWebhook`) points here with a `secret_token`
 * equal to the connection's `webhook_secret` credential: Telegram sends it back on every
 * update as `X-Telegram-Bot-Api-Secret-Token`. Telegram reports no receipts; what matters is
 * `my_chat_member`: a user who blocks the bot turns its status to `kicked` (opted out), one who
 * restarts it to `member` (opted back in). Optional: a bot has one webhook, and a bot already
 * served by one still has its blocks noticed by the 403 the next send gets.
 */
import { secretsEqual } from '@herald/core';
import { accepted, isRecord, parseJsonBody, refused, unixSeconds, type CallbackEffects, type ProviderCallbacks, credential } from './provider-callbacks';

export const telegramCallbacks: ProviderCallbacks = {
  methods: ['POST'],
  handle(connection, request) {
    const secret = credential(connection, 'webhook_secret');
    if (!secret) return refused(403, 'this connection has no webhook_secret credential (the secret_token given to setWebhook)');
    if (!secretsEqual(request.header('x-telegram-bot-api-secret-token') ?? '', secret)) {
      return refused(401, 'X-Telegram-Bot-Api-Secret-Token does not match');
    }
    const update = parseJsonBody(request.rawBody);
    if (!isRecord(update)) return refused(400, 'the body is not a JSON object');
    const effects: CallbackEffects = { receipts: [], optOuts: [] };
    const member = update['my_chat_member'];
    if (isRecord(member) && isRecord(member['chat']) && isRecord(member['new_chat_member'])) {
      const chatId = member['chat']['id'];
      const status = member['new_chat_member']['status'];
      const at = unixSeconds(member['date'], request.receivedAt);
      if (typeof chatId === 'number' || typeof chatId === 'string') {
        if (status === 'kicked') effects.optOuts.push({ address: String(chatId), optOut: true, reason: 'blocked the bot (Telegram)', at });
        if (status === 'member') effects.optOuts.push({ address: String(chatId), optOut: false, reason: 'restarted the bot (Telegram)', at });
      }
    }
    return accepted(effects);
  },
};
