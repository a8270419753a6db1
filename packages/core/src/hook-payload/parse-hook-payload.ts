import type { ErrorDetail } from '../errors';
import { findUnstorableText } from '../storable-text';
import { describe } from './lists';
import { AUDIENCE_FIELDS, parseAudienceFields } from './parse-audience';
import { readIdentity } from './parse-identity';
import { parseTargets } from './parse-targets';
import type { ParseOptions, ParseResult, TriggerRequest, Variables } from './types';
import { IDENTITY_FIELDS, isIdentityField, readAssignments } from './variables';

/** Every field a hook body may carry (SPEC §3.1). */
export const HOOK_FIELDS = [
  ...AUDIENCE_FIELDS,
  'set_variables',
  'set_variables_values',
  'set_conversation',
  'targets',
  'user_id',
  'user_phone_number',
  'bot_channel',
] as const;
const KNOWN_FIELDS: ReadonlySet<string> = new Set(HOOK_FIELDS);

/** Past this many problems the rest are summarised: a 10,000-target call can have 10,000. */
const MAX_DETAILS = 100;

/**
 * Parses the JSON body of a hook call (SPEC §3.1) into a normalised TriggerRequest, or every
 * problem with it. `undefined` (GET, or no body) means the broadcast's configured audience.
 * Pure: no I/O, nothing thrown for bad input.
 */
export function parseHookPayload(body: unknown, options: ParseOptions): ParseResult {
  if (body === undefined || body === null) return accepted(configuredAudience(null));
  if (typeof body !== 'object' || Array.isArray(body)) {
    return rejected([{ path: 'body', message: `is ${describe(body)}`, expected: 'a JSON object' }]);
  }
  // In either mode the body is stored (as the request, or as the payload): it must be storable.
  const unstorable = findUnstorableText(body);
  if (unstorable) return rejected([unstorable]);
  const object = body as Record<string, unknown>;
  const errors: ErrorDetail[] = [];
  const notes: string[] = [];
  const request = parseObject(object, options, errors, notes);

  if (options.requireValidFilter) return request && !errors.length ? accepted(request, notes) : rejected(errors);
  // require_valid_filter = false: any JSON object is accepted and exposed as {{payload.…}}.
  // Fields that do parse still steer the call; ones that do not are ignored, and noted.
  if (request && !errors.length) return accepted({ ...request, payload: object }, notes);
  return accepted(configuredAudience(object), [
    `payload not used as a filter (${errors.length} problem${errors.length === 1 ? '' : 's'}, e.g. ${errors[0]!.path} ${errors[0]!.message}); the configured audience applies`,
  ]);
}

function parseObject(body: Record<string, unknown>, options: ParseOptions, errors: ErrorDetail[], notes: string[]): TriggerRequest | undefined {
  if (options.requireValidFilter) {
    for (const key of Object.keys(body)) {
      if (!KNOWN_FIELDS.has(key)) {
        errors.push({ path: key, message: 'is not a hook field', expected: `one of ${HOOK_FIELDS.join(', ')}` });
      }
    }
  }
  const setConversation = readFlag(body['set_conversation'], errors);
  if (setConversation) return parseSetConversation(body, errors, notes);

  for (const field of IDENTITY_FIELDS) {
    if (body[field] !== undefined) {
      errors.push({ path: field, message: 'is only read with set_conversation: true', expected: 'set_conversation: true, or targets' });
    }
  }
  const setVariables = readAssignments(body, '', errors) ?? {};
  rejectIdentityAssignments(setVariables, errors);

  if (body['targets'] !== undefined) {
    for (const field of AUDIENCE_FIELDS) {
      if (body[field] !== undefined) {
        errors.push({ path: field, message: 'cannot be combined with targets', expected: 'either targets or audience_* fields' });
      }
    }
    const targets = parseTargets(body['targets'], options.maxTargets, errors);
    return targets && { mode: 'targets', targets, set_variables: setVariables, payload: null };
  }

  const audience = parseAudienceFields(body, errors);
  return { mode: 'audience', audience: audience ?? null, set_variables: setVariables, payload: null };
}

function parseSetConversation(body: Record<string, unknown>, errors: ErrorDetail[], notes: string[]): TriggerRequest | undefined {
  if (body['targets'] !== undefined) {
    errors.push({ path: 'targets', message: 'cannot be combined with set_conversation', expected: 'either set_conversation or targets' });
  }
  if (AUDIENCE_FIELDS.some((field) => body[field] !== undefined)) {
    notes.push('audience_* fields ignored: set_conversation targets one contact');
  }
  const before = errors.length;
  const assignments = readAssignments(body, '', errors) ?? {};
  // The identity comes from top-level fields or from set_variables (the vendor's examples).
  const pick = (field: string) => body[field] ?? assignments[field];
  const identity = readIdentity(
    { user_id: pick('user_id'), user_phone_number: pick('user_phone_number'), bot_channel: pick('bot_channel') },
    {
      user_id: body['user_id'] !== undefined ? 'user_id' : 'set_variables.user_id',
      user_phone_number: body['user_phone_number'] !== undefined ? 'user_phone_number' : 'set_variables.user_phone_number',
      bot_channel: body['bot_channel'] !== undefined ? 'bot_channel' : 'set_variables.bot_channel',
    },
    errors,
  );
  if (errors.length === before && identity.user_id === null && identity.user_phone_number === null) {
    errors.push({
      path: 'set_variables',
      message: 'names neither user_id nor user_phone_number',
      expected: 'user_id or user_phone_number, to find the contact or create it',
    });
  }
  if (errors.length > before) return undefined;
  const setVariables: Variables = Object.fromEntries(Object.entries(assignments).filter(([name]) => !isIdentityField(name)));
  return { mode: 'set_conversation', ...identity, set_variables: setVariables, payload: null };
}

/** set_conversation is a boolean; "true"/"false" strings are accepted from form-minded callers. */
function readFlag(raw: unknown, errors: ErrorDetail[]): boolean {
  if (raw === undefined || raw === null || raw === false || raw === 'false') return false;
  if (raw === true || raw === 'true') return true;
  errors.push({ path: 'set_conversation', message: `is ${describe(raw)}`, expected: 'true or false' });
  return false;
}

function rejectIdentityAssignments(variables: Variables, errors: ErrorDetail[]): void {
  for (const name of Object.keys(variables)) {
    if (isIdentityField(name)) {
      errors.push({
        path: `set_variables.${name}`,
        message: 'would change the identity of every targeted contact',
        expected: 'identity fields only with set_conversation: true, or per target',
      });
    }
  }
}

function configuredAudience(payload: Record<string, unknown> | null): TriggerRequest {
  return { mode: 'audience', audience: null, set_variables: {}, payload };
}

function accepted(request: TriggerRequest, notes: string[] = []): ParseResult {
  return { ok: true, request, notes };
}

function rejected(errors: ErrorDetail[]): ParseResult {
  if (errors.length <= MAX_DETAILS) return { ok: false, errors };
  return {
    ok: false,
    errors: [
      ...errors.slice(0, MAX_DETAILS),
      { path: 'body', message: `and ${errors.length - MAX_DETAILS} more problems`, expected: 'fix the ones listed and retry' },
    ],
  };
}
