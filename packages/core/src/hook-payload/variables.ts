import { FIELD_NAME } from '../audience';
import type { ErrorDetail } from '../errors';
import { readList } from './lists';
import type { VariableValue, Variables } from './types';

/** SPEC §2: 64 KiB per value and at most 512 variables per contact. */
export const MAX_VALUE_BYTES = 64 * 1024;
export const MAX_VARIABLES = 512;
/**
 * A contact's variables after every merge (the database enforces both, constraint
 * contacts_variables_bounded, migration 0600): a call is checked against MAX_VARIABLES alone,
 * but many calls add up.
 */
export const MAX_CONTACT_VARIABLES = MAX_VARIABLES;
export const MAX_CONTACT_VARIABLES_BYTES = 1024 * 1024;

/** A contact's identity: given per target or in set_conversation, never set in bulk. */
export const IDENTITY_FIELDS = ['user_id', 'user_phone_number', 'bot_channel'] as const;

export function isIdentityField(name: string): boolean {
  return (IDENTITY_FIELDS as readonly string[]).includes(name);
}

export function checkName(name: string, path: string): ErrorDetail | undefined {
  if (FIELD_NAME.test(name)) return undefined;
  return {
    path,
    message: name === '' ? 'is empty' : `"${truncate(name)}" is not a valid name`,
    expected: 'a snake_case name: lowercase letters, digits and _, at most 64 characters, not starting with a digit',
  };
}

function checkValue(value: VariableValue, path: string): ErrorDetail | undefined {
  const bytes = Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
  if (bytes <= MAX_VALUE_BYTES) return undefined;
  return { path, message: `is ${bytes} bytes`, expected: `at most ${MAX_VALUE_BYTES} bytes` };
}

function checkCount(count: number, path: string): ErrorDetail | undefined {
  if (count <= MAX_VARIABLES) return undefined;
  return { path, message: `sets ${count} variables`, expected: `at most ${MAX_VARIABLES}` };
}

export function truncate(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Reads a `set_variables` / `set_variables_values` pair under `prefix` (`""` for the top level,
 * `"targets[3]."` for a target) into name → value. Returns undefined when neither is given.
 */
export function readAssignments(body: Record<string, unknown>, prefix: string, errors: ErrorDetail[]): Variables | undefined {
  const names = readList(body, 'set_variables', 'names');
  const values = readList(body, 'set_variables_values', 'values');
  if (!names.ok) errors.push(prefixed(names.error, prefix));
  if (!values.ok) errors.push(prefixed(values.error, prefix));
  if (!names.ok || !values.ok) return undefined;
  if (!names.items && !values.items) return undefined;
  if (!names.items) {
    errors.push({ path: `${prefix}set_variables`, message: 'is missing but set_variables_values is given', expected: 'the variable names, one per value' });
    return undefined;
  }
  if (!values.items || values.items.length !== names.items.length) {
    errors.push({
      path: `${prefix}set_variables_values`,
      message: values.items
        ? `has ${values.items.length} values but set_variables names ${names.items.length} variables`
        : 'is missing but set_variables is given',
      expected: `${names.items.length} value${names.items.length === 1 ? '' : 's'}, one per name in set_variables`,
    });
    return undefined;
  }
  const out: Variables = {};
  const before = errors.length;
  names.items.forEach((name, i) => {
    const bad = checkName(name, `${prefix}set_variables[${i}]`) ?? checkValue(values.items![i]!, `${prefix}set_variables_values[${i}]`);
    if (bad) errors.push(bad);
    else out[name] = values.items![i]!;
  });
  const tooMany = checkCount(Object.keys(out).length, `${prefix}set_variables`);
  if (tooMany) errors.push(tooMany);
  return errors.length === before ? out : undefined;
}

/** Reads a `variables` object (any JSON values) at `path`. */
export function readVariablesObject(raw: unknown, path: string, errors: ErrorDetail[]): Variables | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push({ path, message: 'is not an object', expected: 'an object of variable names to values' });
    return undefined;
  }
  const before = errors.length;
  const out: Variables = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const bad = checkName(name, `${path}.${name}`) ?? checkValue(value as VariableValue, `${path}.${name}`);
    if (bad) errors.push(bad);
    else out[name] = value as VariableValue;
  }
  const tooMany = checkCount(Object.keys(out).length, path);
  if (tooMany) errors.push(tooMany);
  return errors.length === before ? out : undefined;
}

function prefixed(error: ErrorDetail, prefix: string): ErrorDetail {
  return { ...error, path: `${prefix}${error.path}` };
}
