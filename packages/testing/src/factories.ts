import { generateBotToken, generateHookToken, hookTokenHint, tokenDigest } from '@herald/core';
import { toJson, type Broadcast, type Bot, type ContactUpsert, type Db, type NewBroadcast, type Trigger, type TriggerStatus } from '@herald/db';

/**
 * Row factories for tests: each makes a valid row with fresh secrets and takes overrides for
 * what the test cares about. Tests build their data with these, never with copied fixtures.
 */

export async function createBotRow(db: Db, overrides: { name?: string } = {}): Promise<Bot & { api_token: string }> {
  const apiToken = generateBotToken();
  const bot = await db
    .insertInto('bots')
    .values({ name: overrides.name ?? 'Test bot', api_token_sha256: tokenDigest(apiToken) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...bot, api_token: apiToken };
}

export type BroadcastOverrides = Partial<
  Pick<NewBroadcast, 'name' | 'enabled' | 'allowed_hosts' | 'allow_get' | 'allow_post' | 'direct_mode' | 'require_valid_filter' | 'delay_ms' | 'max_delay_ms'>
> & { text?: string };

/** A broadcast with its hook token, which the database does not keep (only its digest). */
export async function createBroadcastRow(db: Db, botId: string, overrides: BroadcastOverrides = {}): Promise<Broadcast & { hook_token: string }> {
  const { text, ...columns } = overrides;
  const token = generateHookToken();
  const broadcast = await db
    .insertInto('broadcasts')
    .values({
      bot_id: botId,
      name: 'Test broadcast',
      message: toJson({ text: text ?? 'Hello {{first_name}}' }),
      hook_token_sha256: tokenDigest(token),
      hook_token_hint: hookTokenHint(token),
      ...columns,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...broadcast, hook_token: token };
}

export async function createTriggerRow(
  db: Db,
  broadcastId: string,
  overrides: { status?: TriggerStatus; request?: unknown; method?: 'GET' | 'POST' } = {},
): Promise<Trigger> {
  return db
    .insertInto('triggers')
    .values({
      broadcast_id: broadcastId,
      method: overrides.method ?? 'POST',
      request: toJson(overrides.request ?? { mode: 'audience', audience: null, set_variables: {}, payload: null }),
      status: overrides.status ?? 'pending',
      caller_address: '127.0.0.1',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A contact as `upsertContacts` takes it: every column empty unless `overrides` sets it. */
export function contactUpsert(bot_channel: ContactUpsert['bot_channel'], user_id: string, overrides: Partial<ContactUpsert> = {}): ContactUpsert {
  return { bot_channel, user_id, user_phone_number: null, first_name: null, last_name: null, user_name: null, locale: null, variables: {}, ...overrides };
}
