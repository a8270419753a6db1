import { HOOK_FIELDS, DELIVERY_REASONS, DELIVERY_STATUSES, TRIGGER_STATUSES, acceptedChannelSpellings } from '@herald/core';
import {
  channelConnectionSchema,
  createBotSchema,
  createBroadcastSchema,
  markReadSchema,
  optOutSchema,
  updateBroadcastSchema,
  upsertContactsSchema,
} from '../schemas/admin.schemas';
import { jsonSchemaOf, type JsonSchema } from './joi-schema';
import { RESPONSE_SCHEMAS, pageOf, ref, type ResponseSchemaName } from './responses';

/**
 * The OpenAPI 3.1 document of the admin API and the launch web hook, served at
 * GET /v1/openapi.json. Request bodies are generated from the joi schemas the routes validate
 * with (joi-schema.ts); answers are described in responses.ts and checked against real ones
 * by a test; enums come from core's constants. `pnpm lint:openapi` runs Redocly's linter on it
 * (redocly.yaml says which of its warnings are choices).
 */

const json = (schema: JsonSchema, example?: unknown) => ({
  content: { 'application/json': { schema, ...(example === undefined ? {} : { example }) } },
});
const body = (schema: JsonSchema) => ({ required: true, ...json(schema) });
const answer = (description: string, name: ResponseSchemaName) => ({ description, ...json(ref(name)) });
const pageAnswer = (description: string, item: ResponseSchemaName) => ({ description, ...json(pageOf(item)) });
const error = (description: string) => ({ description, ...json(ref('Error')) });

const uuidPath = (name: string, what: string) => ({
  name,
  in: 'path',
  required: true,
  description: `The ${what}'s id`,
  schema: { type: 'string', format: 'uuid' },
});
const bigintPath = (name: string, what: string) => ({
  name,
  in: 'path',
  required: true,
  description: `The ${what}'s id`,
  schema: { type: 'string', pattern: '^[1-9][0-9]{0,18}$' },
});
const query = (name: string, description: string, schema: JsonSchema) => ({ name, in: 'query', description, schema });
const paging = [
  query('limit', 'Items per page', { type: 'integer', minimum: 1, maximum: 500, default: 50 }),
  query('cursor', 'The next_cursor of the previous page', { type: 'string' }),
];

/** What every admin route may answer besides its success. */
const standard = {
  400: error('Invalid request: details names every bad field (path, message, expected)'),
  401: error('Missing or wrong admin key'),
  404: error('No such resource'),
};
const readStandard = { 401: standard[401], 404: standard[404], 400: standard[400] };

/**
 * The hook's body (SPEC §3.1) is parsed by code (core's parseHookPayload), not joi: every
 * field it knows is described here, and `satisfies` makes a new field in HOOK_FIELDS a type
 * error until it is.
 */
const listOrText = (description: string) => ({
  description: `${description}: a ;-separated string (filters also take ,) or a JSON array`,
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: ['string', 'number', 'boolean', 'null'] } }],
});
const HOOK_FIELD_SCHEMAS = {
  audience_filters: listOrText('Fields or variable names to filter on'),
  audience_criteria: listOrText('One criterion per filter (Equals, Contains, GreaterThan, …)'),
  audience_values: listOrText('One value per filter'),
  audience_join: listOrText('AND or OR: one for all gaps, or one per gap'),
  set_variables: listOrText('Variables to set on every contact reached'),
  set_variables_values: listOrText('Their values, in the same order'),
  set_conversation: { type: 'boolean', description: 'Reach one contact, found (or created) by user_id or user_phone_number' },
  targets: {
    type: 'array',
    description: 'Reach these contacts (created when missing), each with its own variables; up to MAX_TARGETS_PER_CALL',
    items: {
      type: 'object',
      required: ['user_id', 'bot_channel'],
      properties: { user_id: { type: ['string', 'number'] }, bot_channel: { type: 'string' }, user_phone_number: { type: 'string' } },
    },
  },
  user_id: { type: ['string', 'number'], description: 'With set_conversation: the contact' },
  user_phone_number: { type: 'string', description: 'With set_conversation: the contact, by phone' },
  bot_channel: { type: 'string', description: 'With set_conversation: the channel of a contact to create' },
} satisfies Record<(typeof HOOK_FIELDS)[number], JsonSchema>;

const hookBody = {
  type: 'object',
  properties: HOOK_FIELD_SCHEMAS,
  additionalProperties: false,
  description: 'No body, {} or a GET: the configured audience. Unknown fields are a 400 unless the broadcast has require_valid_filter false',
};
const hookResponses = {
  200: { description: 'The trigger is committed; a run follows when the timer fires', ...json(ref('HookScheduled')) },
  400: error('Invalid payload: details names every bad field'),
  401: error('Not in direct mode and no valid Authorization: Bearer <bot api_token>'),
  403: error("The caller's address is not in allowed_hosts, or unknown (a trusted proxy forwarded something that is not an address)"),
  404: error('Unknown token, or broadcast disabled (one answer for both)'),
  405: error('Method not allowed for this broadcast (Allow names the allowed ones)'),
  413: error('Body over HOOK_BODY_LIMIT_BYTES'),
  415: error('Body neither JSON nor sent as text/plain or form-urlencoded'),
  429: error(
    'A rate limit: this address made HOOK_RATE_LIMIT_PER_ADDRESS calls this window, or the broadcast took HOOK_RATE_LIMIT_PER_BROADCAST, or this address had HOOK_NOT_FOUND_PER_MINUTE calls answered 404 this minute. Nothing was recorded; retry after Retry-After seconds',
  ),
  503: error('Postgres unreachable: nothing recorded; retry after Retry-After seconds'),
};

/**
 * A broadcast as answered: its settings (the create schema's fields) and what Herald adds.
 * `withHookUrl`: the answers of create and rotate-hook, the only ones that show the URL.
 */
function broadcastResponseSchema(withHookUrl: boolean): JsonSchema {
  const settings = jsonSchemaOf(createBroadcastSchema) as { properties: Record<string, JsonSchema> };
  const properties: Record<string, JsonSchema> = {
    id: { type: 'string', format: 'uuid' },
    bot_id: { type: 'string', format: 'uuid' },
    ...Object.fromEntries(Object.entries(settings.properties).map(([key, schema]) => [key, withoutDefault(schema)])),
    ...(withHookUrl
      ? {
          hook_url: {
            type: 'string',
            format: 'uri',
            description: 'Secret: whoever has it can launch the broadcast. Shown in this answer only (only its digest is stored); rotate-hook makes a new one',
          },
        }
      : {}),
    hook_url_hint: {
      type: 'string',
      description: "The hook URL with all but the token's last 4 characters left out (`…/hooks/…AbC9`): which URL is current, not the URL",
    },
    hook_rotated_at: { type: ['string', 'null'], format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  };
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

function withoutDefault(schema: JsonSchema): JsonSchema {
  const { default: _default, ...rest } = schema;
  return rest;
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Herald',
    version: '1',
    summary: 'On-demand broadcasts: a web hook call reaches every targeted contact of a bot',
    description:
      'The admin API (ADMIN_PORT, behind ADMIN_API_KEY) manages bots, channel connections, contacts and broadcasts, and shows runs and deliveries. ' +
      'The launch web hook (/hooks/{token}) is served by the ingress, at PUBLIC_URL. Lists are keyset-paginated: pass next_cursor back as ?cursor=.',
    license: { name: 'Proprietary', identifier: 'LicenseRef-Herald' },
  },
  // Self-hosted: the document is served by the admin API it describes, so its own address.
  servers: [{ url: '/', description: 'The admin API serving this document (ADMIN_PORT, 3001 by default)' }],
  tags: [
    { name: 'hook', description: 'The launch web hook, on the ingress' },
    { name: 'bots', description: 'Bots and their channel connections' },
    { name: 'contacts', description: 'Contacts: upsert, import, list; the web chat outbox' },
    { name: 'broadcasts', description: 'Broadcasts and their hook URLs' },
    { name: 'runs', description: 'Triggers, runs and deliveries: what a call did' },
    { name: 'meta', description: 'This document' },
  ],
  components: {
    securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'The ADMIN_API_KEY of the server' } },
    schemas: { ...RESPONSE_SCHEMAS, Broadcast: broadcastResponseSchema(false), BroadcastWithHookUrl: broadcastResponseSchema(true) },
  },
  security: [{ adminKey: [] }],
  paths: {
    '/hooks/{token}': {
      servers: [
        {
          url: '{publicUrl}',
          description: 'The ingress',
          variables: { publicUrl: { default: 'http://127.0.0.1:3000', description: 'The PUBLIC_URL of the deployment' } },
        },
      ],
      parameters: [{ name: 'token', in: 'path', required: true, description: "The secret token of the broadcast's hook_url", schema: { type: 'string' } }],
      get: {
        operationId: 'launchBroadcastByGet',
        tags: ['hook'],
        summary: 'Launch the broadcast for its configured audience',
        security: [],
        responses: hookResponses,
      },
      post: {
        operationId: 'launchBroadcast',
        tags: ['hook'],
        summary: 'Launch the broadcast: filters and values, set_conversation, or targets',
        security: [],
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            description: 'A retry with the same key gets the first answer, for 24 h',
            schema: { type: 'string', maxLength: 255 },
          },
        ],
        requestBody: {
          required: false,
          ...json(hookBody, {
            audience_filters: 'favorite_color',
            audience_criteria: 'Equals',
            audience_values: 'red',
            set_variables: 'discount',
            set_variables_values: '10',
          }),
        },
        responses: hookResponses,
      },
    },
    '/v1/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['meta'],
        summary: 'This document',
        security: [],
        responses: { 200: { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/v1/bots': {
      get: {
        operationId: 'listBots',
        tags: ['bots'],
        summary: 'Every bot, newest first',
        parameters: paging,
        responses: { 200: pageAnswer('A page of bots', 'Bot'), ...readStandard },
      },
      post: {
        operationId: 'createBot',
        tags: ['bots'],
        summary: 'Create a bot (its api_token is shown once)',
        requestBody: body(jsonSchemaOf(createBotSchema)),
        responses: { 201: answer('Created', 'NewBot'), 400: standard[400], 401: standard[401] },
      },
    },
    '/v1/bots/{id}': {
      get: {
        operationId: 'getBot',
        tags: ['bots'],
        summary: 'A bot and its channel connections',
        parameters: [uuidPath('id', 'bot')],
        responses: { 200: answer('The bot', 'BotWithChannels'), ...readStandard },
      },
      delete: {
        operationId: 'deleteBot',
        tags: ['bots'],
        summary: 'Delete it with everything of it: channel connections, contacts, broadcasts, triggers, runs and deliveries',
        description:
          'One transaction, whose time grows with what the bot has (about 2 s per 100,000 contacts and deliveries); hook calls to its broadcasts wait for it, then answer 404. ' +
          'Refused while one of its runs is dispatching or delivering: cancel its broadcasts first.',
        parameters: [uuidPath('id', 'bot')],
        responses: {
          204: { description: 'Deleted' },
          409: error('A run of the bot is in progress: details names each (cancel its broadcasts first)'),
          ...readStandard,
        },
      },
    },
    '/v1/bots/{id}/token': {
      parameters: [uuidPath('id', 'bot')],
      post: {
        operationId: 'rotateBotToken',
        tags: ['bots'],
        summary: 'A new api_token (shown once); the old one, or none if revoked, is refused within about a second',
        responses: { 200: answer('The bot with its new api_token', 'NewBot'), ...readStandard },
      },
      delete: {
        operationId: 'revokeBotToken',
        tags: ['bots'],
        summary: 'Revoke the api_token: no token is accepted (hooks not in direct mode answer 401) until the next rotation',
        responses: { 204: { description: 'Revoked' }, ...readStandard },
      },
    },
    '/v1/bots/{id}/channels': {
      get: {
        operationId: 'listChannelConnections',
        tags: ['bots'],
        summary: "A bot's channel connections, with any fault",
        parameters: [uuidPath('id', 'bot')],
        responses: {
          200: {
            description: 'Every connection of the bot',
            ...json({
              type: 'object',
              properties: { data: { type: 'array', items: ref('ChannelConnection') } },
              required: ['data'],
              additionalProperties: false,
            }),
          },
          ...readStandard,
        },
      },
    },
    '/v1/bots/{id}/channels/{channel}': {
      put: {
        operationId: 'putChannelConnection',
        tags: ['bots'],
        summary: 'Create or replace a channel connection',
        parameters: [
          uuidPath('id', 'bot'),
          { name: 'channel', in: 'path', required: true, description: 'A channel name or alias', schema: { type: 'string', enum: acceptedChannelSpellings() } },
        ],
        requestBody: body(jsonSchemaOf(channelConnectionSchema)),
        responses: { 200: answer('The connection as saved (credentials named, never shown)', 'ChannelConnection'), ...standard },
      },
    },
    '/v1/bots/{id}/contacts': {
      get: {
        operationId: 'listContacts',
        tags: ['contacts'],
        summary: "A bot's contacts in id order",
        parameters: [
          uuidPath('id', 'bot'),
          ...paging,
          query('bot_channel', 'Only this channel (name or alias)', { type: 'string' }),
          query('user_id', 'Only this user id', { type: 'string' }),
          query('opted_out', 'Only contacts opted out (true) or not (false)', { type: 'string', enum: ['true', 'false'] }),
        ],
        responses: { 200: pageAnswer('A page of contacts', 'Contact'), ...readStandard },
      },
      post: {
        operationId: 'upsertContacts',
        tags: ['contacts'],
        summary: 'Create or update up to 10,000 contacts, all or none',
        parameters: [uuidPath('id', 'bot')],
        requestBody: body(jsonSchemaOf(upsertContactsSchema)),
        responses: { 200: answer('How many were received, created and updated', 'ContactsUpserted'), ...standard },
      },
    },
    '/v1/bots/{id}/contacts/import': {
      post: {
        operationId: 'importContacts',
        tags: ['contacts'],
        summary: 'Import contacts from a stream: NDJSON or CSV, millions of rows, all or nothing',
        description:
          'NDJSON (application/x-ndjson, application/ndjson, application/jsonl): one contact object per line, as an item of the upsert call. ' +
          'CSV (text/csv): a header row; the columns user_id, user_phone_number, bot_channel, first_name, last_name, user_name and locale are the contact fields, ' +
          'every other column a variable of that name (string cells; an empty cell sets nothing). Read as it arrives, upserted in batches in one transaction: ' +
          'any bad line (up to 100 are listed, by line number) saves nothing. Lines of at most 4 MiB.',
        parameters: [uuidPath('id', 'bot')],
        requestBody: {
          required: true,
          content: {
            'application/x-ndjson': { schema: { type: 'string' }, example: '{"user_id":"42","bot_channel":"telegram","first_name":"Ada"}\n' },
            'text/csv': { schema: { type: 'string' }, example: 'user_id,bot_channel,first_name,favorite_color\n42,telegram,Ada,red\n' },
          },
        },
        responses: {
          200: answer('Every row committed', 'ContactsImported'),
          413: error('A line is over 4 MiB'),
          415: error('Neither NDJSON nor CSV'),
          ...standard,
        },
      },
    },
    '/v1/bots/{id}/contacts/{contactId}/opt-out': {
      parameters: [uuidPath('id', 'bot'), bigintPath('contactId', 'contact')],
      put: {
        operationId: 'optOutContact',
        tags: ['contacts'],
        summary: 'Opt a contact out: its later deliveries are skipped (opted_out)',
        description: 'An opt-out already in place keeps its first time and reason.',
        requestBody: { required: false, ...json(jsonSchemaOf(optOutSchema)) },
        responses: { 200: answer('The contact, opted out', 'Contact'), ...standard },
      },
      delete: {
        operationId: 'optInContact',
        tags: ['contacts'],
        summary: 'Clear a contact opt-out',
        responses: { 200: answer('The contact, no longer opted out', 'Contact'), ...readStandard },
      },
    },
    '/v1/bots/{id}/contacts/{contactId}/outbox': {
      get: {
        operationId: 'listOutbox',
        tags: ['contacts'],
        summary: "A web chat contact's messages, oldest first",
        parameters: [
          uuidPath('id', 'bot'),
          bigintPath('contactId', 'contact'),
          ...paging,
          query('unread', 'Only unread messages', { type: 'string', enum: ['true', 'false'] }),
        ],
        responses: { 200: pageAnswer('A page of messages', 'OutboxMessage'), ...readStandard },
      },
    },
    '/v1/bots/{id}/contacts/{contactId}/outbox/read': {
      post: {
        operationId: 'markOutboxRead',
        tags: ['contacts'],
        summary: 'Mark messages read, up to an id',
        parameters: [uuidPath('id', 'bot'), bigintPath('contactId', 'contact')],
        requestBody: body(jsonSchemaOf(markReadSchema)),
        responses: { 200: answer('How many were unread', 'OutboxMarkedRead'), ...standard },
      },
    },
    '/v1/bots/{id}/broadcasts': {
      get: {
        operationId: 'listBroadcasts',
        tags: ['broadcasts'],
        summary: "A bot's broadcasts, newest first",
        parameters: [uuidPath('id', 'bot'), ...paging],
        responses: { 200: pageAnswer('A page of broadcasts', 'Broadcast'), ...readStandard },
      },
      post: {
        operationId: 'createBroadcast',
        tags: ['broadcasts'],
        summary: 'Create a broadcast; its hook_url, the secret to call, is shown in this answer only',
        parameters: [uuidPath('id', 'bot')],
        requestBody: body(jsonSchemaOf(createBroadcastSchema)),
        responses: { 201: answer('Created, with its hook_url (shown this once)', 'BroadcastWithHookUrl'), ...standard },
      },
    },
    '/v1/broadcasts/{id}': {
      parameters: [uuidPath('id', 'broadcast')],
      get: {
        operationId: 'getBroadcast',
        tags: ['broadcasts'],
        summary: 'A broadcast',
        responses: { 200: answer('The broadcast', 'Broadcast'), ...readStandard },
      },
      patch: {
        operationId: 'updateBroadcast',
        tags: ['broadcasts'],
        summary: 'Change some settings',
        requestBody: body(jsonSchemaOf(updateBroadcastSchema)),
        responses: { 200: answer('The broadcast as changed', 'Broadcast'), ...standard },
      },
      delete: {
        operationId: 'deleteBroadcast',
        tags: ['broadcasts'],
        summary: 'Delete it with its triggers, runs and deliveries',
        responses: { 204: { description: 'Deleted' }, ...readStandard },
      },
    },
    '/v1/broadcasts/{id}/rotate-hook': {
      post: {
        operationId: 'rotateHook',
        tags: ['broadcasts'],
        summary: 'A new hook token; the old URL answers 404 within about a second. Also the way to a lost hook URL',
        parameters: [uuidPath('id', 'broadcast')],
        responses: { 200: answer('The broadcast with its new hook_url (shown this once)', 'BroadcastWithHookUrl'), ...readStandard },
      },
    },
    '/v1/broadcasts/{id}/cancel': {
      post: {
        operationId: 'cancelBroadcast',
        tags: ['runs'],
        summary: 'Cancel pending triggers and runs in progress',
        parameters: [uuidPath('id', 'broadcast')],
        responses: { 200: answer('What was cancelled', 'BroadcastCancelled'), ...readStandard },
      },
    },
    '/v1/broadcasts/{id}/triggers': {
      get: {
        operationId: 'listTriggers',
        tags: ['runs'],
        summary: "A broadcast's triggers (hook calls), newest first",
        parameters: [uuidPath('id', 'broadcast'), ...paging, query('status', 'Only triggers in this status', { type: 'string', enum: [...TRIGGER_STATUSES] })],
        responses: { 200: pageAnswer('A page of triggers', 'Trigger'), ...readStandard },
      },
    },
    '/v1/broadcasts/{id}/runs': {
      get: {
        operationId: 'listRuns',
        tags: ['runs'],
        summary: "A broadcast's runs, newest first",
        parameters: [uuidPath('id', 'broadcast'), ...paging],
        responses: { 200: pageAnswer('A page of runs', 'Run'), ...readStandard },
      },
    },
    '/v1/triggers/{id}': {
      get: {
        operationId: 'getTrigger',
        tags: ['runs'],
        summary: 'A trigger, with its notes and the run that applied it',
        parameters: [uuidPath('id', 'trigger')],
        responses: { 200: answer('The trigger', 'Trigger'), ...readStandard },
      },
    },
    '/v1/runs/{id}': {
      get: {
        operationId: 'getRun',
        tags: ['runs'],
        summary: 'A run with live progress: exact counts and the current rate',
        parameters: [uuidPath('id', 'run')],
        responses: { 200: answer('The run', 'Run'), ...readStandard },
      },
    },
    '/v1/runs/{id}/deliveries': {
      get: {
        operationId: 'listDeliveries',
        tags: ['runs'],
        summary: "A run's deliveries in id order",
        parameters: [
          uuidPath('id', 'run'),
          ...paging,
          query('status', 'Only deliveries in this status', { type: 'string', enum: [...DELIVERY_STATUSES] }),
          query('reason', 'Only deliveries skipped or failed for this reason', { type: 'string', enum: [...DELIVERY_REASONS] }),
        ],
        responses: { 200: pageAnswer('A page of deliveries', 'Delivery'), ...readStandard },
      },
    },
  },
};
