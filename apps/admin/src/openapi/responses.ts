import { CHANNEL_NAMES, DELIVERY_REASONS, DELIVERY_STATUSES, RUN_STATUSES, TRIGGER_STATUSES } from '@herald/core';
import type { JsonSchema } from './joi-schema';

/**
 * The answers of the admin API and the hook, as JSON Schema. Strict on purpose — every field
 * required, no others allowed — so the test that checks real answers against them
 * (openapi-responses.int.test.ts) fails when a route's answer drifts from the document.
 * Enums come from core's constants.
 */

const string = { type: 'string' } as const;
const nullableString = { type: ['string', 'null'] } as const;
const integer = { type: 'integer', minimum: 0 } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const instant = { type: 'string', format: 'date-time' } as const;
const nullableInstant = { type: ['string', 'null'], format: 'date-time' } as const;
/** bigint ids travel as strings of digits (JSON numbers lose precision past 2^53). */
const bigintId = { type: 'string', pattern: '^[0-9]+$' } as const;

/** Every property required, no other allowed. */
function strict(properties: Record<string, JsonSchema>, extra: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false, ...extra };
}

/** The components of this module, by name (a literal list: the schemas below refer to each other). */
export type ResponseSchemaName =
  | 'Error'
  | 'Bot'
  | 'NewBot'
  | 'ChannelConnection'
  | 'BotWithChannels'
  | 'Contact'
  | 'ContactsUpserted'
  | 'ContactsImported'
  | 'Broadcast'
  | 'BroadcastWithHookUrl'
  | 'Trigger'
  | 'Run'
  | 'Delivery'
  | 'BroadcastCancelled'
  | 'OutboxMessage'
  | 'OutboxMarkedRead'
  | 'HookScheduled';

export const ref = (name: ResponseSchemaName): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

/** `{data, next_cursor}`: a keyset page; next_cursor is null on the last page. */
export const pageOf = (item: ResponseSchemaName): JsonSchema =>
  strict({
    data: { type: 'array', items: ref(item) },
    next_cursor: { ...nullableString, description: 'Pass as ?cursor= for the next page; null on the last one' },
  });

const channelName = { type: 'string', enum: [...CHANNEL_NAMES] };

export const RESPONSE_SCHEMAS: Record<ResponseSchemaName, JsonSchema> = {
  Error: strict({
    error: strict({
      code: { ...string, description: 'Stable: validation_failed, unauthorized, not_found, …' },
      message: string,
      details: {
        type: 'array',
        items: { type: 'object', required: ['path', 'message'], properties: { path: string, message: string, expected: string }, additionalProperties: false },
      },
    }),
  }),
  Bot: strict({ id: uuid, name: string, created_at: instant }),
  NewBot: strict({ id: uuid, name: string, api_token: { ...string, description: 'Shown this once; only its SHA-256 is stored' }, created_at: instant }),
  ChannelConnection: strict({
    id: uuid,
    bot_id: uuid,
    channel: channelName,
    provider: string,
    base_url: nullableString,
    rate_limit_per_second: { type: ['number', 'null'] },
    effective_rate_limit_per_second: { type: ['number', 'null'], description: 'The set rate, else the provider default; null = no limit of our own' },
    credential_names: { type: 'array', items: string },
    callback_url: {
      ...nullableString,
      description: 'Where the provider reports receipts and opt-outs (its status callback / webhook URL); null for the web channel',
    },
    fault: {
      anyOf: [strict({ code: string, message: nullableString, at: nullableInstant }), { type: 'null' }],
      description: 'Set when the provider refused the connection (e.g. bad credentials): sending has stopped until it is saved again',
    },
    created_at: instant,
    updated_at: instant,
  }),
  BotWithChannels: strict({ id: uuid, name: string, created_at: instant, channels: { type: 'array', items: ref('ChannelConnection') } }),
  Contact: strict({
    id: bigintId,
    bot_id: uuid,
    bot_channel: channelName,
    user_id: string,
    user_phone_number: nullableString,
    first_name: nullableString,
    last_name: nullableString,
    user_name: nullableString,
    locale: nullableString,
    variables: { type: 'object' },
    opted_out_at: { ...nullableInstant, description: 'Set while the contact is opted out: its deliveries are skipped (opted_out)' },
    opt_out_reason: nullableString,
    opt_out_signal_at: {
      ...nullableInstant,
      description: 'The time of the last opt-out or opt-in applied (an admin call, a STOP, a block…); a signal older than it, arriving later, is ignored',
    },
    first_seen_at: instant,
    last_seen_at: instant,
    created_at: instant,
    updated_at: instant,
  }),
  ContactsUpserted: strict({ received: integer, created: integer, updated: integer }),
  ContactsImported: strict({ rows: integer, created: integer, updated: integer }),
  Broadcast: { type: 'object' }, // filled in by the document, from the request schema (document.ts)
  BroadcastWithHookUrl: { type: 'object' }, // the same, with hook_url
  Trigger: strict({
    id: uuid,
    seq: { ...bigintId, description: 'Arrival order' },
    broadcast_id: uuid,
    received_at: instant,
    caller_address: nullableString,
    method: { type: 'string', enum: ['GET', 'POST'] },
    request: { type: 'object', description: 'The call as parsed: its mode (audience, set_conversation, targets) and fields' },
    status: { type: 'string', enum: [...TRIGGER_STATUSES] },
    run_id: { type: ['string', 'null'], format: 'uuid' },
    notes: {
      type: 'array',
      items: string,
      description: 'What the hook or the dispatch noted: an ignored field, a contact not created, an audience that reached no one',
    },
    status_changed_at: nullableInstant,
  }),
  Run: strict({
    id: uuid,
    broadcast_id: uuid,
    status: { type: 'string', enum: [...RUN_STATUSES] },
    counts: strict({
      targeted: integer,
      handed_off: { ...integer, description: 'Deliveries handed to the channel queues so far' },
      pending: { ...integer, description: 'Not final yet: queued, waiting for a retry, or being sent' },
      sent: { ...integer, description: 'Accepted by the provider (delivered and read ones included)' },
      failed: { ...integer, description: 'Refused, or reported undelivered by the provider after it accepted them' },
      skipped: integer,
      delivered: { ...integer, description: 'Sent deliveries the provider reported delivered (read ones included)' },
      read: { ...integer, description: 'Sent deliveries the provider reported read' },
    }),
    rate_per_second: { type: 'number', minimum: 0, description: 'Outcomes per second over the last few seconds; 0 once none came for a while' },
    error: nullableString,
    created_at: instant,
    delivering_at: nullableInstant,
    completed_at: nullableInstant,
    finished_at: nullableInstant,
    updated_at: instant,
  }),
  Delivery: strict({
    id: bigintId,
    contact_id: bigintId,
    user_id: string,
    channel: channelName,
    status: { type: 'string', enum: [...DELIVERY_STATUSES] },
    attempts: integer,
    provider_message_id: nullableString,
    reason: { type: ['string', 'null'], enum: [...DELIVERY_REASONS, null], description: 'Why it was skipped or failed' },
    error_code: { ...nullableString, description: "The provider's own error code" },
    last_error: nullableString,
    next_attempt_at: nullableInstant,
    text: { ...nullableString, description: 'The text as rendered for this contact' },
    created_at: instant,
    updated_at: instant,
    sent_at: nullableInstant,
    delivered_at: { ...nullableInstant, description: 'When the provider reported it delivered (a read implies it)' },
    read_at: { ...nullableInstant, description: 'When the provider reported it read' },
    failed_at: { ...nullableInstant, description: 'When the provider reported, after accepting it, that it could not deliver it' },
  }),
  BroadcastCancelled: strict({
    cancelled_triggers: integer,
    cancelled_runs: { type: 'array', items: uuid },
    skipped_deliveries: integer,
  }),
  OutboxMessage: strict({ id: bigintId, delivery_id: bigintId, text: string, created_at: instant, read_at: nullableInstant }),
  OutboxMarkedRead: strict({ marked_read: integer }),
  HookScheduled: strict(
    {
      status: { const: 'scheduled' },
      trigger_id: uuid,
      broadcast_id: uuid,
      scheduled_for: { ...instant, description: 'When the run starts unless another call re-arms the timer' },
      notes: { type: 'array', items: string, description: 'Only when there is something to say, e.g. a field ignored' },
    },
    { required: ['status', 'trigger_id', 'broadcast_id', 'scheduled_for'] },
  ),
};
