import Joi from 'joi';
import {
  CHANNEL_NAMES,
  CRITERIA,
  FIELD_NAME,
  MAX_FILTERS,
  MAX_VALUE_BYTES,
  PROVIDERS_BY_CHANNEL,
  acceptedChannelSpellings,
  compileTemplate,
  resolveChannel,
  type ChannelName,
} from '@herald/core';
import { jsonSchemaOf } from '../openapi/joi-schema';

/**
 * joi schemas of the admin API's request bodies (SPEC §5). Unknown fields are refused.
 * They are also the API document's request schemas (openapi/joi-schema.ts): descriptions and
 * examples live here, and `.meta({ openapi })` describes what a `custom` rule checks in code.
 */

const uuid = Joi.string().guid();
const name = Joi.string().trim().min(1).max(200);

export const idParam = uuid.required();

export const createBotSchema = Joi.object<{ name: string }>({ name: name.required().example('Shop bot') });

export interface ChannelConnectionBody {
  provider: string;
  credentials: Record<string, string>;
  base_url: string | null;
  rate_limit_per_second: number | null;
}

export const channelConnectionSchema = Joi.object<ChannelConnectionBody>({
  // Which providers serve which channel is checked by the route, with a message naming them.
  provider: Joi.string()
    .required()
    .meta({ openapi: { type: 'string', enum: [...new Set(Object.values(PROVIDERS_BY_CHANNEL).flat())] } })
    .description('The provider serving the channel in the path'),
  credentials: Joi.object()
    .pattern(Joi.string().max(64), Joi.string().max(8192))
    .max(32)
    .default({})
    .description('Write-only: answers name them (credential_names), never show them')
    .meta({ openapi: { type: 'object', maxProperties: 32, propertyNames: { maxLength: 64 }, additionalProperties: { type: 'string', maxLength: 8192 } } }),
  base_url: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .allow(null)
    .default(null)
    .description("The provider API's base URL (required for custom); a public http(s) URL unless OUTBOUND_ALLOWED_DESTINATIONS allows it"),
  rate_limit_per_second: Joi.number()
    .greater(0)
    .max(100_000)
    .allow(null)
    .default(null)
    .description("Sends per second on this connection, shared by every worker; null = the provider's default"),
}).example({ provider: 'twilio', credentials: { account_sid: 'AC…', auth_token: '…', from: '+15005550006' }, rate_limit_per_second: 10 });

export interface ContactBody {
  user_id?: string | number;
  user_phone_number?: string;
  bot_channel: string;
  first_name?: string;
  last_name?: string;
  user_name?: string;
  locale?: string;
  variables?: Record<string, unknown>;
}

export const MAX_CONTACTS_PER_CALL = 10_000;

const text = Joi.string().max(1024).allow(null, '');
/** One contact, in an upsert call or a line of an import. */
export const contactSchema = Joi.object<ContactBody>({
  user_id: Joi.alternatives(Joi.string().max(256), Joi.number()),
  user_phone_number: Joi.string().max(64),
  bot_channel: Joi.string().required(),
  first_name: text,
  last_name: text,
  user_name: text,
  locale: Joi.string().max(35).allow(null, ''),
  // Names and sizes are checked with the identity rules, so all problems come back at once.
  variables: Joi.object().description('Up to 512 variables, snake_case names; values are strings, numbers, booleans or JSON'),
}).example({ user_id: '42', bot_channel: 'telegram', first_name: 'Ada', variables: { favorite_color: 'red' } });

export const upsertContactsSchema = Joi.object<{ contacts: ContactBody[] }>({
  contacts: Joi.array().items(contactSchema).min(1).max(MAX_CONTACTS_PER_CALL).required(),
});

const audience = Joi.object({
  filters: Joi.array()
    .items(
      Joi.object({
        field: Joi.string()
          .required()
          .meta({ openapi: { type: 'string', pattern: FIELD_NAME.source, description: 'A contact field (user_id, first_name, …) or a variable name' } }),
        criteria: Joi.string()
          .required()
          .meta({ openapi: { type: 'string', enum: [...CRITERIA], description: 'Case-insensitive; the vendor spelling Cointains is accepted' } }),
        value: Joi.alternatives(Joi.string().max(MAX_VALUE_BYTES), Joi.number(), Joi.boolean()).allow(null),
      }),
    )
    .max(MAX_FILTERS)
    .required(),
  join: Joi.array()
    .items(Joi.string().meta({ openapi: { type: 'string', enum: ['AND', 'OR'] } }))
    .max(MAX_FILTERS - 1)
    .description('One for all gaps, or one per gap; AND binds tighter than OR'),
}).example({ filters: [{ field: 'favorite_color', criteria: 'Equals', value: 'red' }], join: [] });

const TEMPLATE_HINT = 'write {{name}} or {{a.b[0]}}, and \\{\\{ for a literal {{';

/**
 * A text template (SPEC §4) that must compile: a broken one is a 400 at create and update,
 * naming the field and the position, not a surprise at the first delivery. The error reuses
 * joi's pattern code so validateBody reports `expected: the documented format`; the problem
 * travels in the context because joi would read `{{…}}` in a message as its own template.
 */
const templateText = Joi.string()
  .min(1)
  .max(4096)
  .custom((value: string, helpers) => {
    const compiled = compileTemplate(value);
    if (compiled.ok) return value;
    const { message, position } = compiled.error;
    return helpers.error('string.pattern.base', { problem: `${message} at position ${position}`, hint: TEMPLATE_HINT });
  })
  .messages({ 'string.pattern.base': '{{#label}} is not a valid template: {#problem} ({#hint})' })
  .description(
    'A template: {{first_name}}, {{variable.path[0]}}, {{payload.…}}; \\{\\{ for a literal {{. A missing value renders empty. ' +
      'One that does not compile is a 400 naming its position',
  );

/** A field that only one channel understands; under any other it is refused by name. */
const onlyUnder = (channels: string) =>
  Joi.any()
    .custom((_value, helpers) => helpers.error('object.unknown'))
    .messages({ 'object.unknown': `{{#label}} is allowed only under ${channels}` });

const whatsAppTemplate = Joi.object({
  name: Joi.string().max(512).required(),
  language: Joi.string().max(35).default('en'),
  body_parameters: Joi.array().items(templateText).max(100).default([]),
})
  // `parameters` is the name broadcasts were stored and created with before SPEC §5's.
  .rename('parameters', 'body_parameters')
  .messages({ 'object.rename.override': '{{#label}} has both body_parameters and parameters (its old name): send one' });

// Meta names the tags (ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT, …)
// and changes the list now and then: the form is checked here, the tag itself by Meta.
const messengerTag = Joi.string()
  .pattern(/^[A-Z][A-Z_]{0,63}$/)
  .messages({ 'string.pattern.base': '{{#label}} is not a message tag (e.g. ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT)' });

function channelOverride(channel: ChannelName) {
  return Joi.object({
    text: templateText,
    template: channel === 'WhatsAppChannel' ? whatsAppTemplate : onlyUnder('WhatsAppChannel (whatsapp)'),
    message_tag: channel === 'FacebookChannel' ? messengerTag : onlyUnder('FacebookChannel (messenger, facebook)'),
  });
}

/** A key that names `channel` in any spelling `resolveChannel` accepts. */
const keyOf = (channel: ChannelName) => Joi.string().custom((key: string, helpers) => (resolveChannel(key) === channel ? key : helpers.error('any.invalid')));

const notAChannel = Joi.any()
  .custom((_value, helpers) => helpers.error('any.only', { valids: acceptedChannelSpellings() }))
  .messages({ 'any.only': '{{#label}} is not a channel' });

// Per-channel overrides (SPEC §5), keyed by any spelling of a channel; the route stores them
// under the canonical name. One pattern per channel, so what a channel allows depends on its key.
const channelOverrides = CHANNEL_NAMES.reduce((schema, channel) => schema.pattern(keyOf(channel), channelOverride(channel)), Joi.object())
  .pattern(/^/, notAChannel)
  .meta({
    openapi: {
      type: 'object',
      description: 'Per-channel overrides keyed by channel name or alias (WhatsAppChannel, whatsapp, …), stored under the canonical name',
      propertyNames: { enum: acceptedChannelSpellings() },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          text: jsonSchemaOf(templateText),
          template: {
            ...jsonSchemaOf(whatsAppTemplate),
            description: 'WhatsAppChannel only: an approved template (the old key parameters is read as body_parameters)',
          },
          message_tag: {
            ...jsonSchemaOf(messengerTag),
            description: 'FacebookChannel only: e.g. ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT',
          },
        },
      },
    },
  });

const message = Joi.object({
  text: templateText.required(),
  channels: channelOverrides,
});

const hostEntry = Joi.string().ip({ cidr: 'optional' });
const delay = Joi.number().integer().min(0).max(86_400_000);

const broadcastFields = {
  name,
  enabled: Joi.boolean().description('A disabled broadcast answers its hook with 404'),
  audience: audience.description('Who a call without audience fields reaches; no filters = every contact of the bot'),
  message,
  allowed_hosts: Joi.array().items(hostEntry).max(100).description('Callers allowed to call the hook (IPs or CIDRs, v4 and v6); empty = any caller'),
  allow_get: Joi.boolean(),
  allow_post: Joi.boolean(),
  direct_mode: Joi.boolean().description("When false, hook callers send the bot's api_token as Authorization: Bearer"),
  require_valid_filter: Joi.boolean().description('When false, hook fields that do not parse are ignored with a note instead of a 400'),
  delay_ms: delay.description('The timer: a run starts this long after the last call, each call re-arming it'),
  max_delay_ms: delay.allow(null).description('At most this long after the first pending call, however often calls re-arm the timer; null = no cap'),
};

export const createBroadcastSchema = Joi.object({
  ...broadcastFields,
  name: name.required(),
  message: message.required(),
  enabled: broadcastFields.enabled.default(true),
  audience: audience.default({ filters: [], join: [] }),
  allowed_hosts: broadcastFields.allowed_hosts.default([]),
  allow_get: broadcastFields.allow_get.default(true),
  allow_post: broadcastFields.allow_post.default(true),
  direct_mode: broadcastFields.direct_mode.default(true),
  require_valid_filter: broadcastFields.require_valid_filter.default(true),
  delay_ms: delay.default(10_000),
  max_delay_ms: broadcastFields.max_delay_ms.default(null),
}).example({ name: 'Order update', message: { text: 'Hi {{first_name}}, your order {{payload.order_id}} has shipped' }, delay_ms: 2000 });

export const updateBroadcastSchema = Joi.object(broadcastFields).min(1).example({ enabled: false });

/** `POST …/outbox/read`: marks a web chat contact's messages read, up to and including an id. */
export const markReadSchema = Joi.object<{ through_id: string }>({
  through_id: Joi.string()
    .pattern(/^[1-9][0-9]{0,18}$/)
    .required()
    .description('The id of the last message read'),
});

/** `PUT …/contacts/:contactId/opt-out`: why (kept with the time; `admin` when not given). */
export const optOutSchema = Joi.object<{ reason: string }>({
  reason: Joi.string().trim().min(1).max(200).default('admin').description('Why the contact is opted out; kept with the time'),
}).example({ reason: 'asked by phone' });
