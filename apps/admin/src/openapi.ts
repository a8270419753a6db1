/**
 * The OpenAPI 3.1 document of the admin API and the launch web hook, served at
 * GET /v1/openapi.json. Written by hand beside the routes; a test checks that every path and
 * method here is served by the admin app (or, for the hook, by the ingress).
 */
import { DELIVERY_REASONS, DELIVERY_STATUSES } from '@herald/core';

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, ...json(ref('Error')) });
const id = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
const paging = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'next_cursor of the previous page' },
];
const page = (item: string) => json({ type: 'object', properties: { data: { type: 'array', items: ref(item) }, next_cursor: { type: ['string', 'null'] } } });
const standard = { 400: error('Invalid request: every bad field in details'), 401: error('Missing or wrong admin key'), 404: error('No such resource') };

const audience = {
  type: 'object',
  properties: {
    filters: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'criteria'],
        properties: {
          field: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,63}$' },
          criteria: {
            type: 'string',
            enum: ['Equals', 'Different', 'GreaterThan', 'LesserThan', 'Contains', 'DoesNotContain', 'StartsWith', 'DoesNotStartWith', 'HasValue', 'EmptyOrUnset', 'IsLongerThan', 'IsShorterThan'],
            description: 'Case-insensitive; the vendor spelling Cointains is accepted',
          },
          value: { type: ['string', 'number', 'boolean', 'null'] },
        },
      },
    },
    join: { type: 'array', items: { type: 'string', enum: ['AND', 'OR'] }, description: 'One for all gaps or one per gap; AND binds tighter than OR' },
  },
};

const template = {
  type: 'string',
  minLength: 1,
  maxLength: 4096,
  description:
    'Template: {{first_name}}, {{variable.path[0]}}, {{payload.…}} (spaces allowed inside the braces); \\{\\{ for a literal {{. ' +
    'A missing value renders empty, JSON as JSON, nothing HTML-escaped. One that does not compile is a 400 naming its position',
};

const broadcastSettings = {
  name: { type: 'string', maxLength: 200 },
  enabled: { type: 'boolean', default: true },
  audience,
  message: {
    type: 'object',
    required: ['text'],
    properties: {
      text: template,
      channels: {
        type: 'object',
        description: 'Per-channel overrides keyed by channel name or alias (WhatsAppChannel, whatsapp, …), stored under the canonical name; one entry per channel',
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          properties: {
            text: template,
            template: {
              type: 'object',
              required: ['name'],
              description: 'WhatsAppChannel only: an approved template message. The old key parameters is accepted for body_parameters',
              properties: {
                name: { type: 'string', maxLength: 512 },
                language: { type: 'string', maxLength: 35, default: 'en' },
                body_parameters: { type: 'array', maxItems: 100, items: template, default: [] },
              },
            },
            message_tag: {
              type: 'string',
              pattern: '^[A-Z][A-Z_]{0,63}$',
              description: 'FacebookChannel only: e.g. ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT',
            },
          },
        },
      },
    },
  },
  allowed_hosts: { type: 'array', items: { type: 'string' }, description: 'IPs or CIDRs, v4 and v6; empty = any caller' },
  allow_get: { type: 'boolean', default: true },
  allow_post: { type: 'boolean', default: true },
  direct_mode: { type: 'boolean', default: true, description: "When false, hook callers send the bot's api_token as Bearer" },
  require_valid_filter: { type: 'boolean', default: true },
  delay_ms: { type: 'integer', minimum: 0, default: 10000 },
  max_delay_ms: { type: ['integer', 'null'], minimum: 0 },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Herald',
    version: '1',
    description: 'On-demand broadcasts: the admin API (this process) and the launch web hook (the ingress).',
  },
  components: {
    securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' } },
    schemas: {
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' }, expected: { type: 'string' } } } },
            },
          },
        },
      },
      Broadcast: {
        type: 'object',
        properties: { id: { type: 'string' }, bot_id: { type: 'string' }, ...broadcastSettings, hook_url: { type: 'string' }, hook_rotated_at: { type: ['string', 'null'] }, created_at: { type: 'string' }, updated_at: { type: 'string' } },
      },
      Trigger: {
        type: 'object',
        properties: {
          id: { type: 'string' }, broadcast_id: { type: 'string' }, received_at: { type: 'string' }, caller_address: { type: 'string' },
          method: { type: 'string' }, request: { type: 'object' }, status: { type: 'string', enum: ['pending', 'dispatched', 'cancelled', 'failed'] },
          run_id: { type: ['string', 'null'] }, notes: { type: 'array', items: { type: 'string' } },
        },
      },
      Run: {
        type: 'object',
        properties: {
          id: { type: 'string' }, broadcast_id: { type: 'string' }, status: { type: 'string', enum: ['dispatching', 'delivering', 'completed', 'cancelled', 'failed'] },
          counts: { type: 'object', properties: { targeted: { type: 'integer' }, handed_off: { type: 'integer', description: 'deliveries handed to the channel queues so far' }, sent: { type: 'integer' }, failed: { type: 'integer' }, skipped: { type: 'integer' }, pending: { type: 'integer', description: 'not final yet: queued, waiting for a retry, or being sent' } } },
          rate_per_second: { type: 'number', description: 'outcomes per second over the last few seconds; 0 once none came for a while' },
          created_at: { type: 'string' }, delivering_at: { type: ['string', 'null'] }, completed_at: { type: ['string', 'null'] }, finished_at: { type: ['string', 'null'] },
        },
      },
      ChannelConnection: {
        type: 'object',
        properties: {
          bot_id: { type: 'string' }, channel: { type: 'string' }, provider: { type: 'string' }, base_url: { type: ['string', 'null'] },
          rate_limit_per_second: { type: ['number', 'null'] }, effective_rate_limit_per_second: { type: ['number', 'null'], description: 'the set rate, else the provider default; null = no limit of our own' },
          credential_names: { type: 'array', items: { type: 'string' } },
          fault: { type: ['object', 'null'], description: 'set when the provider refused the connection (e.g. bad credentials): sending has stopped until it is saved again', properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'string' } } },
        },
      },
      OutboxMessage: {
        type: 'object',
        properties: { id: { type: 'string' }, delivery_id: { type: 'string' }, text: { type: 'string' }, created_at: { type: 'string' }, read_at: { type: ['string', 'null'] } },
      },
      Delivery: {
        type: 'object',
        properties: {
          id: { type: 'string' }, contact_id: { type: 'string' }, user_id: { type: 'string' }, channel: { type: 'string' },
          status: { type: 'string', enum: [...DELIVERY_STATUSES] }, attempts: { type: 'integer' },
          reason: { type: ['string', 'null'], enum: [...DELIVERY_REASONS, null], description: 'why it was skipped or failed' },
          error_code: { type: ['string', 'null'], description: "the provider's own error code" },
          provider_message_id: { type: ['string', 'null'] }, last_error: { type: ['string', 'null'] }, next_attempt_at: { type: ['string', 'null'] },
        },
      },
    },
  },
  security: [{ adminKey: [] }],
  paths: {
    '/hooks/{token}': {
      description: 'Served by the ingress (PUBLIC_URL), not the admin API.',
      parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
      get: { summary: 'Launch the broadcast (configured audience)', security: [], responses: { 200: { description: 'Scheduled' }, 403: error('Caller not allowed'), 404: error('Unknown or disabled'), 405: error('Method not allowed'), 401: error('Bot token required'), 503: error('Database unavailable; Retry-After') } },
      post: {
        summary: 'Launch the broadcast: audience and values, set_conversation, or targets',
        security: [],
        parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 } }],
        requestBody: json({ type: 'object', description: 'SPEC §3.1; fields may be ;-separated strings or arrays' }),
        responses: {
          200: json({ type: 'object', properties: { status: { const: 'scheduled' }, trigger_id: { type: 'string' }, broadcast_id: { type: 'string' }, scheduled_for: { type: 'string' } } }),
          400: error('Invalid payload'), 401: error('Bot token required'), 403: error('Caller not allowed'), 404: error('Unknown or disabled'),
          405: error('Method not allowed'), 413: error('Body too large'), 415: error('Body not JSON'), 503: error('Database unavailable; Retry-After'),
        },
      },
    },
    '/v1/bots': {
      get: { summary: 'Every bot, newest first', parameters: [...paging], responses: { 200: { description: 'A page of bots ({id, name, created_at}) and next_cursor' }, ...standard } },
      post: { summary: 'Create a bot (its api_token is shown once)', requestBody: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }), responses: { 201: { description: 'Created' }, ...standard } },
    },
    '/v1/bots/{id}': { get: { summary: 'A bot and its channel connections', parameters: [id('id')], responses: { 200: { description: 'The bot' }, ...standard } } },
    '/v1/bots/{id}/channels/{channel}': {
      put: {
        summary: 'Create or replace a channel connection',
        parameters: [id('id'), { name: 'channel', in: 'path', required: true, schema: { type: 'string' }, description: 'WhatsAppChannel, whatsapp, SMSChannel, sms, …' }],
        requestBody: json({ type: 'object', required: ['provider'], properties: { provider: { type: 'string' }, credentials: { type: 'object', additionalProperties: { type: 'string' } }, base_url: { type: ['string', 'null'] }, rate_limit_per_second: { type: ['number', 'null'] } } }),
        responses: { 200: json(ref('ChannelConnection')), ...standard },
      },
    },
    '/v1/bots/{id}/channels': { get: { summary: "A bot's channel connections, with any fault", parameters: [id('id')], responses: { 200: json({ type: 'object', properties: { data: { type: 'array', items: ref('ChannelConnection') } } }), ...standard } } },
    '/v1/bots/{id}/contacts/{contactId}/outbox': {
      get: {
        summary: "A web chat contact's messages, oldest first, since a cursor",
        parameters: [id('id'), { name: 'contactId', in: 'path', required: true, schema: { type: 'string' } }, ...paging, { name: 'unread', in: 'query', schema: { type: 'string', enum: ['true', 'false'] } }],
        responses: { 200: page('OutboxMessage'), ...standard },
      },
    },
    '/v1/bots/{id}/contacts/{contactId}/outbox/read': {
      post: {
        summary: 'Mark messages read, up to an id',
        parameters: [id('id'), { name: 'contactId', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: json({ type: 'object', required: ['through_id'], properties: { through_id: { type: 'string' } } }),
        responses: { 200: json({ type: 'object', properties: { marked_read: { type: 'integer' } } }), ...standard },
      },
    },
    '/v1/bots/{id}/contacts': {
      get: {
        summary: "A bot's contacts in id order",
        parameters: [id('id'), ...paging, { name: 'bot_channel', in: 'query', schema: { type: 'string' } }, { name: 'user_id', in: 'query', schema: { type: 'string' } }],
        responses: { 200: { description: '{data, next_cursor}' }, ...standard },
      },
      post: {
        summary: 'Upsert up to 10,000 contacts',
        parameters: [id('id')],
        requestBody: json({ type: 'object', required: ['contacts'], properties: { contacts: { type: 'array', maxItems: 10000, items: { type: 'object', required: ['bot_channel'] } } } }),
        responses: { 200: json({ type: 'object', properties: { received: { type: 'integer' }, created: { type: 'integer' }, updated: { type: 'integer' } } }), ...standard },
      },
    },
    '/v1/bots/{id}/contacts/import': {
      post: {
        summary: 'Import contacts from a stream: NDJSON or CSV, millions of rows, all or nothing',
        description:
          'NDJSON (application/x-ndjson, application/ndjson, application/jsonl): one contact object per line, as an item of the upsert call. ' +
          'CSV (text/csv): a header row; the columns user_id, user_phone_number, bot_channel, first_name, last_name, user_name and locale are the contact fields, ' +
          'every other column a variable of that name (string cells; an empty cell sets nothing). Read as it arrives, upserted in batches in one transaction: ' +
          'any bad line (up to 100 are listed, by line number) saves nothing. Lines of at most 4 MiB.',
        parameters: [id('id')],
        requestBody: {
          required: true,
          content: {
            'application/x-ndjson': { schema: { type: 'string' } },
            'text/csv': { schema: { type: 'string' } },
          },
        },
        responses: {
          200: json({ type: 'object', properties: { rows: { type: 'integer' }, created: { type: 'integer' }, updated: { type: 'integer' } } }),
          413: error('A line is over 4 MiB'),
          415: error('Neither NDJSON nor CSV'),
          ...standard,
        },
      },
    },
    '/v1/bots/{id}/broadcasts': {
      get: { summary: "A bot's broadcasts, newest first", parameters: [id('id'), ...paging], responses: { 200: page('Broadcast'), ...standard } },
      post: { summary: 'Create a broadcast', parameters: [id('id')], requestBody: json({ type: 'object', required: ['name', 'message'], properties: broadcastSettings }), responses: { 201: json(ref('Broadcast')), ...standard } },
    },
    '/v1/broadcasts/{id}': {
      parameters: [id('id')],
      get: { summary: 'A broadcast', responses: { 200: json(ref('Broadcast')), ...standard } },
      patch: { summary: 'Change some settings', requestBody: json({ type: 'object', properties: broadcastSettings, minProperties: 1 }), responses: { 200: json(ref('Broadcast')), ...standard } },
      delete: { summary: 'Delete it with its triggers, runs and deliveries', responses: { 204: { description: 'Deleted' }, ...standard } },
    },
    '/v1/broadcasts/{id}/rotate-hook': { post: { summary: 'New hook token; the old URL answers 404 within about a second', parameters: [id('id')], responses: { 200: json(ref('Broadcast')), ...standard } } },
    '/v1/broadcasts/{id}/cancel': { post: { summary: 'Cancel pending triggers and runs in progress', parameters: [id('id')], responses: { 200: { description: 'What was cancelled' }, ...standard } } },
    '/v1/broadcasts/{id}/triggers': {
      get: { summary: 'Triggers, newest first', parameters: [id('id'), ...paging, { name: 'status', in: 'query', schema: { type: 'string' } }], responses: { 200: page('Trigger'), ...standard } },
    },
    '/v1/broadcasts/{id}/runs': { get: { summary: 'Runs, newest first', parameters: [id('id'), ...paging], responses: { 200: page('Run'), ...standard } } },
    '/v1/triggers/{id}': { get: { summary: 'A trigger', parameters: [id('id')], responses: { 200: json(ref('Trigger')), ...standard } } },
    '/v1/runs/{id}': { get: { summary: 'A run with live progress: exact counts and the current rate', parameters: [id('id')], responses: { 200: json(ref('Run')), ...standard } } },
    '/v1/runs/{id}/deliveries': {
      get: { summary: "A run's deliveries in id order", parameters: [id('id'), ...paging, { name: 'status', in: 'query', schema: { type: 'string', enum: [...DELIVERY_STATUSES] } }, { name: 'reason', in: 'query', schema: { type: 'string', enum: [...DELIVERY_REASONS] } }], responses: { 200: page('Delivery'), ...standard } },
    },
  },
} as const;
