import type { ErrorDetail } from '../errors';
import { describe } from './lists';
import { readIdentity } from './parse-identity';
import type { TargetRequest, Variables } from './types';
import { IDENTITY_FIELDS, isIdentityField, readAssignments, readVariablesObject } from './variables';

const TARGET_FIELDS = new Set(['user_id', 'user_phone_number', 'bot_channel', 'variables', 'set_variables', 'set_variables_values']);

/**
 * The `targets` array: each names its contact (created when missing) and its own variables.
 * Any bad target rejects the whole call: every problem is reported with its index.
 * Two targets naming the same contact become one, the later one's variables winning.
 */
export function parseTargets(raw: unknown, maxTargets: number, errors: ErrorDetail[]): TargetRequest[] | undefined {
  if (!Array.isArray(raw)) {
    errors.push({ path: 'targets', message: `is ${describe(raw)}`, expected: 'an array of targets' });
    return undefined;
  }
  if (raw.length === 0 || raw.length > maxTargets) {
    errors.push({ path: 'targets', message: `has ${raw.length} targets`, expected: `1 to ${maxTargets} targets` });
    return undefined;
  }
  const byContact = new Map<string, TargetRequest>();
  const before = errors.length;
  raw.forEach((item, index) => {
    const target = parseTarget(item, `targets[${index}]`, errors);
    if (!target) return;
    const key = `${target.bot_channel}\u0000${target.user_id}`;
    const seen = byContact.get(key);
    if (seen) seen.variables = { ...seen.variables, ...target.variables };
    else byContact.set(key, target);
  });
  return errors.length === before ? [...byContact.values()] : undefined;
}

function parseTarget(item: unknown, path: string, errors: ErrorDetail[]): TargetRequest | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    errors.push({ path, message: `is ${describe(item)}`, expected: 'an object with user_id (or user_phone_number) and bot_channel' });
    return undefined;
  }
  const target = item as Record<string, unknown>;
  const before = errors.length;
  for (const key of Object.keys(target)) {
    if (!TARGET_FIELDS.has(key)) {
      errors.push({ path: `${path}.${key}`, message: 'is not a target field', expected: `one of ${[...TARGET_FIELDS].join(', ')}` });
    }
  }
  const identity = readIdentity(
    { user_id: target['user_id'], user_phone_number: target['user_phone_number'], bot_channel: target['bot_channel'] },
    { user_id: `${path}.user_id`, user_phone_number: `${path}.user_phone_number`, bot_channel: `${path}.bot_channel` },
    errors,
  );
  if (identity.bot_channel === null && target['bot_channel'] == null) {
    errors.push({ path: `${path}.bot_channel`, message: 'is missing', expected: 'the channel of the contact, e.g. WhatsAppChannel' });
  }
  if (identity.user_id === null && errors.length === before) {
    errors.push({ path: `${path}.user_id`, message: 'is missing', expected: 'user_id (or, on WhatsApp, SMS and RCS, user_phone_number)' });
  }
  const variables: Variables = {
    ...readVariablesObject(target['variables'], `${path}.variables`, errors),
    ...readAssignments(target, `${path}.`, errors),
  };
  for (const name of Object.keys(variables)) {
    if (isIdentityField(name)) {
      errors.push({
        path: `${path}.variables.${name}`,
        message: 'sets an identity field',
        expected: `${IDENTITY_FIELDS.join(', ')} given on the target itself`,
      });
    }
  }
  if (errors.length > before || !identity.bot_channel || !identity.user_id) return undefined;
  return {
    user_id: identity.user_id,
    user_phone_number: identity.user_phone_number,
    bot_channel: identity.bot_channel,
    variables,
  };
}
