import { sql, type RawBuilder } from 'kysely';

/** The keyset of a list ordered newest first: the last row's (created_at, id). */
export interface NewestFirstPage {
  limit: number;
  before?: { createdAt: Date; id: string };
}

/**
 * The condition of the next page of a list ordered by (created_at, id) descending — bots, a
 * bot's broadcasts, a broadcast's runs: rows strictly before the last one given out.
 */
export function beforeKeyset(before: NonNullable<NewestFirstPage['before']>): RawBuilder<boolean> {
  return sql<boolean>`(created_at, id) < (${before.createdAt}, ${before.id}::uuid)`;
}
