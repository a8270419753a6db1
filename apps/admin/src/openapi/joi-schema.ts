import type Joi from 'joi';

/**
 * JSON Schema (the OpenAPI 3.1 dialect, draft 2020-12) of a joi schema, from joi's own
 * `describe()`: the request schemas of the API document are the very schemas the routes
 * validate with, so the two cannot disagree. It covers the joi features the admin schemas use
 * and refuses the others loudly rather than guessing. Where a rule is code (`custom`: templates
 * that must compile, channel keys in any spelling), the schema says what it can with
 * `.meta({ openapi: {...} })`, which replaces the generated schema of that node.
 * (A converter package was tried: it typed `value: anyOf […] + null` and IP-or-CIDR entries
 * wrongly, and has no way to replace a node; this is about as long as its fix-ups would be.)
 */
export type JsonSchema = { [keyword: string]: unknown };

interface Described {
  type: string;
  flags?: { presence?: 'required' | 'optional' | 'forbidden'; default?: unknown; description?: string; only?: boolean; unknown?: boolean };
  keys?: Record<string, Described>;
  patterns?: Array<{ regex?: string; schema?: Described; rule: Described }>;
  items?: Described[];
  matches?: Array<{ schema: Described }>;
  rules?: Array<{ name: string; args?: Record<string, unknown> }>;
  allow?: unknown[];
  metas?: Array<Record<string, unknown>>;
  examples?: unknown[];
  renames?: unknown[];
}

export function jsonSchemaOf(schema: Joi.Schema): JsonSchema {
  return convert(schema.describe() as Described);
}

function convert(node: Described): JsonSchema {
  const override = node.metas?.find((meta) => 'openapi' in meta)?.['openapi'] as JsonSchema | undefined;
  const schema: JsonSchema = override ? { ...override } : byType(node);
  const flags = node.flags ?? {};
  if (flags.description !== undefined) schema['description'] = flags.description;
  if (flags.default !== undefined && typeof flags.default !== 'function') schema['default'] = flags.default;
  if (node.examples?.length) schema['examples'] = node.examples;
  return override ? schema : withAllowed(schema, node);
}

function byType(node: Described): JsonSchema {
  switch (node.type) {
    case 'any':
      return {};
    case 'string':
      return withRules({ type: 'string' }, node, STRING_RULES);
    case 'number':
      return withRules({ type: node.rules?.some((r) => r.name === 'integer') ? 'integer' : 'number' }, node, NUMBER_RULES);
    case 'boolean':
      return { type: 'boolean' };
    case 'array':
      return withRules(arrayItems(node), node, ARRAY_RULES);
    case 'object':
      return withRules(objectProperties(node), node, OBJECT_RULES);
    case 'alternatives':
      return { anyOf: (node.matches ?? []).map((match) => convert(match.schema)) };
    default:
      throw new Error(`jsonSchemaOf: joi type "${node.type}" is not supported: describe it with .meta({ openapi })`);
  }
}

/** A joi rule → the JSON Schema keywords it means (undefined: no keyword, e.g. `trim`). */
type RuleMap = Record<string, (args: Record<string, unknown>) => JsonSchema | undefined>;
const limit = (keyword: string) => (args: Record<string, unknown>) => ({ [keyword]: args['limit'] });

const STRING_RULES: RuleMap = {
  min: limit('minLength'),
  max: limit('maxLength'),
  length: (args) => ({ minLength: args['limit'], maxLength: args['limit'] }),
  pattern: (args) => ({ pattern: regexSource(String(args['regex'])) }),
  guid: () => ({ format: 'uuid' }),
  uri: () => ({ format: 'uri' }),
  ip: () => ({ description: 'An IPv4 or IPv6 address, or a CIDR range of either' }),
  trim: () => undefined,
  custom: () => undefined,
};
const NUMBER_RULES: RuleMap = {
  integer: () => undefined,
  min: limit('minimum'),
  max: limit('maximum'),
  greater: limit('exclusiveMinimum'),
  less: limit('exclusiveMaximum'),
};
const ARRAY_RULES: RuleMap = { min: limit('minItems'), max: limit('maxItems') };
const OBJECT_RULES: RuleMap = { min: limit('minProperties'), max: limit('maxProperties') };

function withRules(schema: JsonSchema, node: Described, rules: RuleMap): JsonSchema {
  for (const rule of node.rules ?? []) {
    const keywords = rules[rule.name];
    if (!keywords) throw new Error(`jsonSchemaOf: the ${node.type} rule "${rule.name}" is not supported: describe it with .meta({ openapi })`);
    const produced = keywords(rule.args ?? {});
    if (produced?.['description'] && schema['description']) produced['description'] = `${String(schema['description'])}. ${String(produced['description'])}`;
    Object.assign(schema, produced);
  }
  return schema;
}

function arrayItems(node: Described): JsonSchema {
  const items = (node.items ?? []).map(convert);
  if (items.length === 0) return { type: 'array' };
  return { type: 'array', items: items.length === 1 ? items[0] : { anyOf: items } };
}

function objectProperties(node: Described): JsonSchema {
  const schema: JsonSchema = { type: 'object' };
  if (node.keys) {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const [key, child] of Object.entries(node.keys)) {
      if (child.flags?.presence === 'forbidden') continue;
      properties[key] = convert(child);
      if (child.flags?.presence === 'required') required.push(key);
    }
    schema['properties'] = properties;
    if (required.length) schema['required'] = required;
  }
  const patternProperties: Record<string, JsonSchema> = {};
  for (const pattern of node.patterns ?? []) {
    if (!pattern.regex) throw new Error('jsonSchemaOf: an object pattern keyed by a schema is not supported: describe it with .meta({ openapi })');
    patternProperties[regexSource(pattern.regex)] = convert(pattern.rule);
  }
  if (Object.keys(patternProperties).length) schema['patternProperties'] = patternProperties;
  // A keyless Joi.object() takes any keys; one with keys or patterns refuses the others.
  const open = node.flags?.unknown === true || (!node.keys && !node.patterns);
  if (!open) schema['additionalProperties'] = false;
  return schema;
}

/** `.allow(null)` widens the type; `.valid(…)` (flags.only) is an enum. */
function withAllowed(schema: JsonSchema, node: Described): JsonSchema {
  const allowed = node.allow ?? [];
  if (node.flags?.only) return { ...withoutType(schema), enum: allowed };
  if (!allowed.includes(null)) return schema;
  if (typeof schema['type'] === 'string') return { ...schema, type: [schema['type'], 'null'] };
  if (Array.isArray(schema['anyOf'])) return { ...schema, anyOf: [...schema['anyOf'], { type: 'null' }] };
  return schema;
}

function withoutType(schema: JsonSchema): JsonSchema {
  const { type: _type, ...rest } = schema;
  return rest;
}

/** joi describes a regex as its literal, `/…/flags`: JSON Schema wants the source. */
function regexSource(literal: string): string {
  const match = /^\/(.*)\/[a-z]*$/s.exec(literal);
  return match ? match[1]! : literal;
}
