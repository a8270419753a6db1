import { sql } from 'kysely';
import type { Db } from '../create-db';

/** The outcomes of deliveries over time, for the console's chart. */

export interface OutcomeBucket {
  /** Start of the bucket: a multiple of the width counted from the Unix epoch. */
  bucket_start: Date;
  sent: number;
  failed: number;
  skipped: number;
}

/**
 * How many deliveries of the given runs became sent, failed or skipped in each time bucket,
 * oldest bucket first; buckets with no outcome are absent. One statement over the runs'
 * deliveries (the (run_id, id) index finds them), counted in Postgres: never a row per
 * delivery to the caller. A delivery's outcome time is `sent_at` when sent, else `updated_at`,
 * which the final status change sets and nothing touches afterwards. Buckets start at
 * multiples of the width from the epoch, so the same instant falls in the same bucket
 * whichever runs are asked about.
 */
/**
 * A page view must not hold a pooled connection for long: past `timeoutMs` the count is
 * cancelled and the answer is undefined (the page says so) rather than a slow page.
 */
export async function deliveryOutcomesByBucket(
  db: Db,
  query: { runIds: readonly string[]; bucketSeconds: number; timeoutMs: number },
): Promise<OutcomeBucket[] | undefined> {
  if (query.runIds.length === 0) return [];
  return db
    .transaction()
    .execute(async (trx) => {
      await sql`SELECT set_config('statement_timeout', ${String(query.timeoutMs)}, true)`.execute(trx);
      return countOutcomes(trx, query);
    })
    .catch((error: unknown) => {
      if ((error as { code?: unknown }).code === '57014') return undefined; // query_canceled: the timeout
      throw error;
    });
}

async function countOutcomes(db: Db, query: { runIds: readonly string[]; bucketSeconds: number }): Promise<OutcomeBucket[]> {
  const { rows } = await sql<OutcomeBucket>`
    SELECT date_bin(make_interval(secs => ${query.bucketSeconds}::double precision),
                    coalesce(sent_at, updated_at), TIMESTAMPTZ 'epoch') AS bucket_start,
           count(*) FILTER (WHERE status = 'sent')::int    AS sent,
           count(*) FILTER (WHERE status = 'failed')::int  AS failed,
           count(*) FILTER (WHERE status = 'skipped')::int AS skipped
    FROM deliveries
    WHERE run_id = ANY(${[...query.runIds]}::uuid[]) AND status IN ('sent', 'failed', 'skipped')
    GROUP BY 1
    ORDER BY 1`.execute(db);
  return rows;
}
