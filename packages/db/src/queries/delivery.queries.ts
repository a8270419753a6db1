import { sql } from 'kysely';
import type { Db } from '../create-db';
import type { ChannelColumn, DeliveryReason, VariableValue } from '../schema';

/**
 * The delivery stage's statements (SPEC §4). Invariants:
 * - Only a `queued` delivery (due, i.e. not waiting for a retry) or a `sending` one whose lease
 *   expired is ever claimed, and only while its run is dispatching or delivering: a cancel, a
 *   chunk re-added after a Redis loss, or two overlapping chunks therefore send nothing twice.
 * - Only the claim that holds a row (its `claim_id`) may finalise it.
 * - Every statement that makes deliveries final counts them on the run in the same
 *   transaction, locking the run row first: counters never drift from the rows, and the lock
 *   order (run, then deliveries) is the cancel's too, so the two cannot deadlock.
 */

export interface ChunkRange {
  runId: string;
  channel: ChannelColumn;
  firstId: string;
  lastId: string;
}

/** What a delivery chunk needs to know once: the run, its broadcast's message, the connection. */
export interface ChunkContext {
  run_status: string;
  broadcast_id: string;
  bot_id: string;
  message: unknown;
  payload: unknown;
  connection_id: string | null;
  provider: string | null;
  credentials: Record<string, string> | null;
  base_url: string | null;
  rate_limit_per_second: number | null;
  fault_code: string | null;
}

export async function loadChunkContext(db: Db, runId: string, channel: ChannelColumn): Promise<ChunkContext | undefined> {
  const { rows } = await sql<ChunkContext>`
    SELECT r.status AS run_status, b.id AS broadcast_id, b.bot_id, b.message, r.payload,
           cc.id AS connection_id, cc.provider, cc.credentials, cc.base_url, cc.rate_limit_per_second, cc.fault_code
    FROM runs r
    JOIN broadcasts b ON b.id = r.broadcast_id
    LEFT JOIN channel_connections cc ON cc.bot_id = b.bot_id AND cc.channel = ${channel}
    WHERE r.id = ${runId}`.execute(db);
  return rows[0];
}

/** A claimed delivery with what rendering and addressing need of its contact. */
export interface ClaimedDelivery {
  id: string;
  contact_id: string;
  attempts: number;
  user_id: string;
  bot_channel: ChannelColumn;
  user_phone_number: string | null;
  first_name: string | null;
  last_name: string | null;
  user_name: string | null;
  locale: string | null;
  variables: Record<string, VariableValue>;
}

/**
 * Claims up to `limit` deliveries of a chunk for sending (`queued → sending`, attempts + 1,
 * leased until `leaseMs` from now). SKIP LOCKED: two workers on overlapping chunks split the
 * rows instead of waiting for each other. Empty when the run was cancelled or finished, or the
 * connection was refused by its provider.
 */
export async function claimDeliveries(
  db: Db,
  claim: ChunkRange & { claimId: string; connectionId: string; limit: number; leaseMs: number },
): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    WITH picked AS (
      SELECT d.id FROM deliveries d
      WHERE d.run_id = ${claim.runId} AND d.channel = ${claim.channel}
        AND d.id BETWEEN ${claim.firstId} AND ${claim.lastId}
        AND ((d.status = 'queued' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now()))
             OR (d.status = 'sending' AND d.lease_until < now()))
        AND EXISTS (SELECT 1 FROM runs r WHERE r.id = ${claim.runId} AND r.status IN ('dispatching', 'delivering'))
        -- A connection refused by its provider stops every worker at its next claim.
        AND NOT EXISTS (SELECT 1 FROM channel_connections cc WHERE cc.id = ${claim.connectionId} AND cc.fault_code IS NOT NULL)
      ORDER BY d.id
      LIMIT ${claim.limit}
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE deliveries d SET
      status = 'sending', claim_id = ${claim.claimId}, attempts = d.attempts + 1,
      lease_until = now() + ${claim.leaseMs} * interval '1 millisecond', updated_at = now()
    FROM picked, contacts c
    WHERE d.id = picked.id AND c.id = d.contact_id
    RETURNING d.id, d.contact_id, d.attempts, c.user_id, c.bot_channel, c.user_phone_number,
              c.first_name, c.last_name, c.user_name, c.locale, c.variables`.execute(db);
  return rows;
}

/**
 * How one claimed delivery ended. `queued` puts it back for a retry at `next_attempt_at`
 * (or, when its run was cancelled meanwhile, makes it `skipped` as `cancelled`).
 */
export interface DeliveryOutcome {
  id: string;
  status: 'sent' | 'failed' | 'skipped' | 'queued';
  reason: DeliveryReason | null;
  error_code: string | null;
  last_error: string | null;
  provider_message_id: string | null;
  next_attempt_at: Date | null;
  /** The rendered text, kept on the delivery (SPEC §2). */
  text: string | null;
}

export interface OutcomeCounts {
  sent: number;
  failed: number;
  skipped: number;
}

/**
 * Records the outcomes of one claim's deliveries in one statement (the rows travel as one JSON
 * parameter) and counts the final ones on the run. A row whose claim was taken over (lease
 * expired) is left alone. Returns what was counted and the run's status after it.
 */
export async function finishDeliveries(
  db: Db,
  batch: { runId: string; claimId: string; outcomes: readonly DeliveryOutcome[] },
): Promise<OutcomeCounts & { runStatus: string | null }> {
  if (batch.outcomes.length === 0) return { sent: 0, failed: 0, skipped: 0, runStatus: null };
  return db.transaction().execute(async (trx) => {
    const runStatus = await lockRun(trx, batch.runId);
    const { rows } = await sql<{ status: string }>`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(batch.outcomes)}::jsonb) AS i(
          id bigint, status text, reason text, error_code text, last_error text,
          provider_message_id text, next_attempt_at timestamptz, text text)
      ), decided AS (
        SELECT i.*, (i.status = 'queued' AND coalesce(${runStatus}::text, 'gone') NOT IN ('dispatching', 'delivering')) AS cancelled FROM input i
      )
      UPDATE deliveries d SET
        status              = CASE WHEN i.cancelled THEN 'skipped' ELSE i.status END,
        reason              = CASE WHEN i.cancelled THEN 'cancelled' ELSE i.reason END,
        error_code          = i.error_code,
        last_error          = i.last_error,
        provider_message_id = coalesce(i.provider_message_id, d.provider_message_id),
        next_attempt_at     = CASE WHEN i.cancelled THEN NULL ELSE i.next_attempt_at END,
        text                = coalesce(i.text, d.text),
        sent_at             = CASE WHEN i.status = 'sent' THEN now() ELSE d.sent_at END,
        claim_id = NULL, lease_until = NULL, updated_at = now()
      FROM decided i
      WHERE d.id = i.id AND d.run_id = ${batch.runId} AND d.status = 'sending' AND d.claim_id = ${batch.claimId}
      RETURNING d.status`.execute(trx);
    const counts = countStatuses(rows);
    const status = await countOnRun(trx, batch.runId, counts);
    return { ...counts, runStatus: status ?? runStatus };
  });
}

/**
 * Makes every due `queued` delivery of a chunk (or, with no range, of the run's channel) final
 * at once: skipped when the bot has no connection for the channel, failed when the connection
 * was refused by its provider. Counted on the run like any outcome.
 */
export async function closeQueuedDeliveries(
  db: Db,
  close: { runId: string; channel: ChannelColumn; range?: { firstId: string; lastId: string } } & {
    status: 'skipped' | 'failed';
    reason: DeliveryReason;
    errorCode?: string | null;
    lastError?: string | null;
  },
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await lockRun(trx, close.runId);
    const inRange = close.range ? sql`AND id BETWEEN ${close.range.firstId} AND ${close.range.lastId}` : sql``;
    const { rows } = await sql<{ status: string }>`
      UPDATE deliveries SET status = ${close.status}, reason = ${close.reason}, error_code = ${close.errorCode ?? null},
             last_error = ${close.lastError ?? null}, next_attempt_at = NULL, updated_at = now()
      WHERE run_id = ${close.runId} AND channel = ${close.channel} AND status = 'queued' ${inRange}
      RETURNING status`.execute(trx);
    await countOnRun(trx, close.runId, countStatuses(rows));
    return rows.length;
  });
}

/**
 * When the chunk's next delivery becomes due: the earliest retry time of its `queued` rows
 * (now, for a row due already), or null when none is left waiting.
 */
export async function nextDueInChunk(db: Db, range: ChunkRange): Promise<Date | null> {
  const { rows } = await sql<{ due: Date | null }>`
    SELECT min(coalesce(next_attempt_at, now())) AS due FROM deliveries
    WHERE run_id = ${range.runId} AND channel = ${range.channel} AND id BETWEEN ${range.firstId} AND ${range.lastId}
      AND status = 'queued'`.execute(db);
  return rows[0]?.due ?? null;
}

/** Takes the run's row lock (see the invariants above); its status, null when it is gone. */
async function lockRun(db: Db, runId: string): Promise<string | null> {
  const { rows } = await sql<{ status: string }>`SELECT status FROM runs WHERE id = ${runId} FOR UPDATE`.execute(db);
  return rows[0]?.status ?? null;
}

function countStatuses(rows: readonly { status: string }[]): OutcomeCounts {
  const counts: OutcomeCounts = { sent: 0, failed: 0, skipped: 0 };
  for (const { status } of rows) if (status === 'sent' || status === 'failed' || status === 'skipped') counts[status]++;
  return counts;
}

/** Seconds over which a run's delivery rate is measured (`rate_per_second`). */
export const RATE_WINDOW_SECONDS = 5;

/**
 * Adds final outcomes to the run's counters; completes a delivering run whose counters reach
 * its targeted count; keeps the rate window. Returns the run's status after it.
 */
async function countOnRun(db: Db, runId: string, counts: OutcomeCounts): Promise<string | null> {
  const n = counts.sent + counts.failed + counts.skipped;
  if (n === 0) return null;
  const window = sql.raw(`interval '${RATE_WINDOW_SECONDS} seconds'`);
  const { rows } = await sql<{ status: string }>`
    UPDATE runs SET
      sent = sent + ${counts.sent}, failed = failed + ${counts.failed}, skipped = skipped + ${counts.skipped},
      status      = CASE WHEN status = 'delivering' AND sent + failed + skipped + ${n} >= targeted THEN 'completed' ELSE status END,
      finished_at = CASE WHEN status = 'delivering' AND sent + failed + skipped + ${n} >= targeted THEN now() ELSE finished_at END,
      rate_per_second  = CASE WHEN now() - rate_window_at >= ${window}
                              THEN (rate_window_done + ${n}) / extract(epoch FROM now() - rate_window_at) ELSE rate_per_second END,
      rate_window_done = CASE WHEN rate_window_at IS NULL THEN ${n} WHEN now() - rate_window_at >= ${window} THEN 0
                              ELSE rate_window_done + ${n} END,
      rate_window_at   = CASE WHEN rate_window_at IS NULL OR now() - rate_window_at >= ${window} THEN now() ELSE rate_window_at END,
      updated_at = now()
    WHERE id = ${runId}
    RETURNING status`.execute(db);
  return rows[0]?.status ?? null;
}

/** Marks a connection refused by its provider; shown by the admin API until it is saved again. */
export async function recordConnectionFault(db: Db, connectionId: string, fault: { code: string; message: string }): Promise<void> {
  await db
    .updateTable('channel_connections')
    .set({ fault_code: fault.code, fault_message: fault.message.slice(0, 1000), fault_at: new Date() })
    .where('id', '=', connectionId)
    .execute();
}

/**
 * Claims whose worker died in a run that was cancelled meanwhile: nothing will send them, so
 * they are skipped as `cancelled` (and counted), one run at a time with its row locked first.
 * Returns how many were closed.
 */
export async function closeExpiredClaimsOfStoppedRuns(db: Db): Promise<number> {
  const { rows: runs } = await sql<{ run_id: string }>`
    SELECT DISTINCT d.run_id FROM deliveries d JOIN runs r ON r.id = d.run_id
    WHERE d.status = 'sending' AND d.lease_until < now() AND r.status NOT IN ('dispatching', 'delivering')
    LIMIT 100`.execute(db);
  let closed = 0;
  for (const { run_id: runId } of runs) {
    closed += await db.transaction().execute(async (trx) => {
      await lockRun(trx, runId);
      const { rows } = await sql<{ status: string }>`
        UPDATE deliveries SET status = 'skipped', reason = 'cancelled', claim_id = NULL, lease_until = NULL, updated_at = now()
        WHERE run_id = ${runId} AND status = 'sending' AND lease_until < now()
        RETURNING status`.execute(trx);
      await countOnRun(trx, runId, countStatuses(rows));
      return rows.length;
    });
  }
  return closed;
}

/**
 * Claims whose worker died (lease expired): back to `queued`, to be sent again (at-least-once:
 * the provider may have accepted the message before the worker died). Returns them per run
 * and channel with their id span, so the caller can add a chunk job over them.
 */
export async function releaseExpiredClaims(db: Db, limit = 10_000): Promise<ChunkRange[]> {
  const { rows } = await sql<ChunkRange>`
    WITH expired AS (
      SELECT d.id FROM deliveries d JOIN runs r ON r.id = d.run_id
      WHERE d.status = 'sending' AND d.lease_until < now() AND r.status IN ('dispatching', 'delivering')
      ORDER BY d.lease_until LIMIT ${limit} FOR UPDATE OF d SKIP LOCKED
    ), released AS (
      UPDATE deliveries d SET status = 'queued', claim_id = NULL, lease_until = NULL, next_attempt_at = NULL, updated_at = now()
      FROM expired WHERE d.id = expired.id
      RETURNING d.run_id, d.channel, d.id
    )
    SELECT run_id AS "runId", channel, min(id)::text AS "firstId", max(id)::text AS "lastId"
    FROM released GROUP BY run_id, channel`.execute(db);
  return rows;
}

/**
 * Runs still delivering whose queued deliveries are due but that made no progress for
 * `stalledAfterMs`: their chunk jobs were lost (failed for good, or gone with Redis). One span
 * per run and channel, over its due rows.
 */
export async function stalledDeliveries(db: Db, stalledAfterMs: number): Promise<ChunkRange[]> {
  const { rows } = await sql<ChunkRange>`
    SELECT d.run_id AS "runId", d.channel, min(d.id)::text AS "firstId", max(d.id)::text AS "lastId"
    FROM runs r JOIN deliveries d ON d.run_id = r.id
    WHERE r.status = 'delivering' AND r.updated_at < now() - ${stalledAfterMs} * interval '1 millisecond'
      AND d.status = 'queued' AND (d.next_attempt_at IS NULL OR d.next_attempt_at < now())
    GROUP BY d.run_id, d.channel`.execute(db);
  return rows;
}
