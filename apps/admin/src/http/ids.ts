import { AppError, isUuid } from '@herald/core';

/** An id from the URL; one that cannot be an id names nothing, so it is a 404 like any other. */
export function resourceId(value: string | undefined, what: string): string {
  if (!isUuid(value)) throw notFound(what);
  return value.toLowerCase();
}

export function notFound(what: string): AppError {
  return new AppError(404, 'not_found', `No such ${what}`);
}

/** A bigint id (contacts, deliveries) from the URL: digits within bigint's range, else a 404. */
export function bigintResourceId(value: string | undefined, what: string): string {
  if (!isBigintId(value)) throw notFound(what);
  return value;
}

const BIGINT_MAX = 9_223_372_036_854_775_807n;

/**
 * A positive bigint (bigserial ids, trigger seqs) as text, the form Postgres gives them out in.
 * Postgres refuses a number past bigint's range with an error, not an empty result: checked
 * here so that it is the caller's 4xx, not a 500.
 */
export function isBigintId(value: unknown): value is string {
  return typeof value === 'string' && /^[1-9][0-9]{0,18}$/.test(value) && BigInt(value) <= BIGINT_MAX;
}
