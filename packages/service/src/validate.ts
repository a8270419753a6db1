import type { ObjectSchema, ValidationErrorItem } from 'joi';
import { AppError, type ErrorDetail } from '@herald/core';

/** joi's path `["contacts", 3, "user_id"]` → `contacts[3].user_id`, the form every 4xx uses. */
function formatPath(path: ReadonlyArray<string | number>): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || 'body';
}

/** What a joi error type asked for, in the words of SPEC §3's `expected`. */
function expectedOf(item: ValidationErrorItem): string {
  const c = item.context ?? {};
  switch (item.type) {
    case 'any.required':
      return 'a value';
    case 'any.only':
      return `one of ${(c['valids'] as unknown[] | undefined)?.map(String).join(', ') ?? 'the allowed values'}`;
    case 'object.unknown':
      return 'no such field';
    case 'string.base':
      return 'a string';
    case 'string.empty':
      return 'a non-empty string';
    case 'string.min':
      return `at least ${String(c['limit'])} characters`;
    case 'string.max':
      return `at most ${String(c['limit'])} characters`;
    case 'string.uri':
      return 'an http(s) URL';
    case 'string.ip':
    case 'string.ipVersion':
      return 'an IP address or CIDR';
    case 'string.pattern.base':
      return 'the documented format';
    case 'number.base':
      return 'a number';
    case 'number.integer':
      return 'an integer';
    case 'number.min':
    case 'number.greater':
      return `at least ${String(c['limit'])}`;
    case 'number.max':
      return `at most ${String(c['limit'])}`;
    case 'boolean.base':
      return 'true or false';
    case 'array.base':
      return 'an array';
    case 'array.min':
      return `at least ${String(c['limit'])} items`;
    case 'array.max':
      return `at most ${String(c['limit'])} items`;
    case 'object.base':
      return 'an object';
    case 'object.min':
      return 'at least one field';
    default:
      return item.message;
  }
}

export function toErrorDetails(items: readonly ValidationErrorItem[]): ErrorDetail[] {
  return items.map((item) => ({
    path: formatPath(item.path),
    message: item.message.replace(/^"[^"]*" /, ''),
    expected: expectedOf(item),
  }));
}

/**
 * Validates a request body against a joi schema: the converted value, or an AppError 400 with
 * every problem (abortEarly off), unknown fields included, in the error body of SPEC §3.
 */
export function validateBody<T>(schema: ObjectSchema<T>, body: unknown): T {
  const { value, error } = schema.validate(body ?? {}, { abortEarly: false, convert: true, errors: { wrap: { label: '"' } } });
  if (error) throw new AppError(400, 'validation_failed', 'The request is invalid', toErrorDetails(error.details));
  return value;
}
