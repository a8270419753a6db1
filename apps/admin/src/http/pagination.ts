import { AppError, isRecord, isUuid } from '@herald/core';
import { isBigintId } from './ids';

/**
 * Keyset pagination for the list endpoints: `?limit=` (1–500, default 50) and `?cursor=`, an
 * opaque token from the previous page's `next_cursor`. Lists answer `{data, next_cursor}`.
 */
export interface PageRequest<C> {
  limit: number;
  cursor: C | undefined;
}

export function pageRequest<C>(query: Record<string, unknown>, isCursor: (value: unknown) => value is C): PageRequest<C> {
  const rawLimit = query['limit'];
  const limit = rawLimit === undefined ? 50 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new AppError(400, 'validation_failed', 'The request is invalid', [
      { path: 'limit', message: `is ${String(rawLimit)}`, expected: 'an integer from 1 to 500' },
    ]);
  }
  const rawCursor = query['cursor'];
  if (rawCursor === undefined) return { limit, cursor: undefined };
  let cursor: unknown;
  try {
    cursor = JSON.parse(Buffer.from(String(rawCursor), 'base64url').toString('utf8'));
  } catch {
    cursor = undefined;
  }
  if (!isCursor(cursor)) {
    throw new AppError(400, 'validation_failed', 'The request is invalid', [
      { path: 'cursor', message: 'is not a cursor this list gave out', expected: 'the next_cursor of the previous page' },
    ]);
  }
  return { limit, cursor };
}

/*
 * A cursor is read from the query string, so it is input like any other: each check below
 * accepts only what Postgres takes for its column. A value it refuses (an id past bigint, a
 * malformed uuid, a date out of its range) would fail the query, and answer 500 instead of 400.
 */

/** A cursor `{ [key]: "<digits>" }`: the keyset position of lists ordered by a bigint column. */
export function bigintCursor<K extends string>(key: K) {
  return (value: unknown): value is Record<K, string> => isRecord(value) && isBigintId(value[key]);
}

/** A cursor `{created_at, id}`: the keyset position of lists ordered newest first. */
export const isCreatedAtCursor = (v: unknown): v is { created_at: string; id: string } =>
  isRecord(v) && isCursorInstant(v['created_at']) && typeof v['id'] === 'string' && isUuid(v['id']);

/**
 * An instant as createdAtCursorOf writes it (toISOString) and reads back to the same text:
 * no other format, no 30 February rolled over into March, and a year from 1 to 9999, which
 * timestamptz can hold (JavaScript's dates reach 271,821 BC).
 */
function isCursorInstant(value: unknown): value is string {
  if (typeof value !== 'string' || !/^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value)) return false;
  const time = Date.parse(value);
  return !Number.isNaN(time) && new Date(time).toISOString() === value;
}

/** The keyset of a `{created_at, id}` cursor, as the list queries take it. */
export const beforeCreatedAt = (cursor: { created_at: string; id: string } | undefined) => cursor && { createdAt: new Date(cursor.created_at), id: cursor.id };

/** The cursor after a row of a list ordered newest first. */
export const createdAtCursorOf = (last: { created_at: Date; id: string }) => ({ created_at: last.created_at.toISOString(), id: last.id });

export function encodeCursor(cursor: unknown): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

export function page<T>(items: T[], limit: number, cursorOf: (last: T) => unknown) {
  const last = items[items.length - 1];
  return { data: items, next_cursor: items.length === limit && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  throw new AppError(400, 'validation_failed', 'The request is invalid', [{ path, message: `is ${String(value)}`, expected: `one of ${allowed.join(', ')}` }]);
}
