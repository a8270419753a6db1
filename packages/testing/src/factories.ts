import { createHash, randomBytes } from 'node:crypto';
import { toJson, type Broadcast, type Bot, type Db, type Trigger, type TriggerStatus } from '@herald/db';

/**
 * Row factories for tests: each makes a valid row with random secrets and takes overrides for
 * what the test cares about. Tests build their data with these, never with copied fixtures.
 */

function randomToken(): { token: string; sha256: Buffer } {
  const token = randomBytes(24).toString('base64url');
  return { token, sha256: createHash('sha256').update(token).digest() };
}

export async function createBotRow(db: Db, overrides: { name?: string } = {}): Promise<Bot> {
  return db
    .insertInto('bots')
    .values({ name: overrides.name ?? 'Test bot', api_token_sha256: randomToken().sha256 })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function createBroadcastRow(
  db: Db,
  botId: string,
  overrides: { name?: string; enabled?: boolean; delay_ms?: number; text?: string } = {},
): Promise<Broadcast> {
  const { token, sha256 } = randomToken();
  return db
    .insertInto('broadcasts')
    .values({
      bot_id: botId,
      name: overrides.name ?? 'Test broadcast',
      enabled: overrides.enabled ?? true,
      delay_ms: overrides.delay_ms ?? 10_000,
      message: toJson({ text: overrides.text ?? 'Hello {{first_name}}' }),
      hook_token: token,
      hook_token_sha256: sha256,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
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
      request: toJson(overrides.request ?? { mode: 'configured_audience' }),
      status: overrides.status ?? 'pending',
      caller_address: '127.0.0.1',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}
