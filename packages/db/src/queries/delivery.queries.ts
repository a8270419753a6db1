import { randomUUID } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { prepared, type Db } from '../create-db';
import type { BroadcastMessage, ChannelName } from '@herald/core';
import type { DeliveryReason, VariableValue } from '../schema';
import type { SecretKeyring } from '../secrets/secret-keyring';
import { openCredentials } from '../secrets/stored-credentials';

/**
 * The delivery stage's statements (SPEC §4). Invariants:
 * - Only a `queued` delivery (due, i.e. not waiting for a retry) or a `sending` one whose lease
 *   expired is ever claimed, and only while its run is dispatching or delivering: a cancel, a
 *   chunk re-added after a Redis loss, or two overlapping chunks therefore send nothing twice.
 * - Only the claim that holds a row (its `claim_id`) may finalise it.
 * - Every claim writes its lease to `delivery_leases` in the claim statement: the reconciler
 *   finds the claims of a dead worker there. No index of `deliveries` names a column a claim or
 *   an outcome changes, so both are HOT updates (migration 0500).
 * - Every statement that makes deliveries final counts them on the run in the same statement
 *   (`updateAndCount`), locking the run row first: counters never drift from the rows, and the
 *   lock order (run, then deliveries) is the cancel's too, so the two cannot deadlock.
 */

export interface ChunkRange {
  runId: string;
  channel: ChannelName;
  firstId: string;
  lastId: string;
}

/** What a delivery chunk needs to know once: the run, its broadcast's message, the connection. */
export interface ChunkContext {
  run_status: string;
  broadcast_id: string;
  bot_id: string;
  message: BroadcastMessage;
  payload: unknown;
  connection_id: string | null;
  provider: string | null;
  credentials: Record<string, string> | null;
  base_url: string | null;
  rate_limit_per_second: number | null;
  fault_code: string | null;
}

/** The chunk's context with the connection's credentials opened (`secrets` holds the keys they are sealed with). */
export async function loadChunkContext(db: Db, secrets: SecretKeyring, runId: string, channel: ChannelName): Promise<ChunkContext | undefined> {
  const { rows } = await sql<Omit<ChunkContext, 'credentials'> & { credentials: unknown }>`
    SELECT r.status AS run_status, b.id AS broadcast_id, b.bot_id, b.message, r.payload,
           cc.id AS connection_id, cc.provider, cc.credentials, cc.base_url, cc.rate_limit_per_second, cc.fault_code
    FROM runs r
    JOIN broadcasts b ON b.id = r.broadcast_id
    LEFT JOIN channel_connections cc ON cc.bot_id = b.bot_id AND cc.channel = ${channel}
    WHERE r.id = ${runId}`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  const credentials = row.connection_id === null ? null : openCredentials(secrets, row.credentials, { botId: row.bot_id, channel });
  return { ...row, credentials };
}

/** A claimed delivery with what rendering and addressing need of its contact. */
export interface ClaimedDelivery {
  id: string;
  /** The claim that holds it: its outcome is recorded with this id (DeliveryOutcome.claim_id). */
  claim_id: string;
  contact_id: string;
  attempts: number;
  user_id: string;
  bot_channel: ChannelName;
  user_phone_number: string | null;
  first_name: string | null;
  last_name: string | null;
  user_name: string | null;
  locale: string | null;
  variables: Record<string, VariableValue>;
  /** Opted out when claimed: skipped (`opted_out`), never sent. */
  opted_out: boolean;
}

/**
 * Claims up to `limit` deliveries of a chunk for sending (`queued → sending`, attempts + 1,
 * leased until `leaseMs` from now), as one new claim whose lease is journaled in
 * `delivery_leases` by the same statement. SKIP LOCKED: two workers on overlapping chunks split
 * the rows instead of waiting for each other. Empty when the run was cancelled or finished, or
 * the connection was refused by its provider.
 */
export async function claimDeliveries(db: Db, claim: ChunkRange & { connectionId: string; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
  const claimId = randomUUID();
  const leaseUntil = sql`now() + ${claim.leaseMs} * interval '1 millisecond'`;
  const { rows } = await sql<ClaimedDelivery>`${prepared('claim_deliveries')}
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
    ), claimed AS (
      UPDATE deliveries d SET
        status = 'sending', claim_id = ${claimId}, attempts = d.attempts + 1, lease_until = ${leaseUntil}, updated_at = now()
      FROM picked, contacts c
      WHERE d.id = picked.id AND c.id = d.contact_id
      RETURNING d.id, d.claim_id, d.contact_id, d.attempts, c.user_id, c.bot_channel, c.user_phone_number,
                c.first_name, c.last_name, c.user_name, c.locale, c.variables, c.opted_out_at IS NOT NULL AS opted_out
    ), leased AS (
      INSERT INTO delivery_leases (claim_id, run_id, first_id, last_id, lease_until)
      SELECT ${claimId}, ${claim.runId}, min(id), max(id), ${leaseUntil} FROM claimed HAVING count(*) > 0
    )
    SELECT * FROM claimed`.execute(db);
  return rows;
}

/**
 * How one claimed delivery ended. `queued` puts it back for a retry at `next_attempt_at`
 * (or, when its run was cancelled meanwhile, makes it `skipped` as `cancelled`).
 */
export interface DeliveryOutcome {
  id: string;
  /** The claim that sent it: only that claim may record its outcome. */
  claim_id: string;
  status: 'sent' | 'failed' | 'skipped' | 'queued';
  reason: DeliveryReason | null;
  error_code: string | null;
  last_error: string | null;
  provider_message_id: string | null;
  next_attempt_at: Date | null;
  /** The rendered text, kept on the delivery (SPEC §2). */
  text: string | null;
  /**
   * The connection that sent it, when its provider's message id names the message on that
   * connection: the pair goes to `provider_messages`, where receipts find the delivery.
   */
  connection_id?: string | null;
}

/** Seconds over which a run's delivery rate is measured (`rate_per_second`). */
export const RATE_WINDOW_SECONDS = 5;

/**
 * Records outcomes of one run's deliveries and counts the final ones on the run, in one
 * statement (the rows travel as one JSON parameter). A row whose claim was taken over (its
 * lease expired) is left alone; an outcome `queued` for a retry in a run cancelled meanwhile
 * becomes `skipped` (`cancelled`). Returns the run's status after it.
 */
export async function finishDeliveries(db: Db, batch: { runId: string; outcomes: readonly DeliveryOutcome[] }): Promise<string | null> {
  if (batch.outcomes.length === 0) return null;
  const cancelled = sql`i.status = 'queued' AND (SELECT status FROM run) NOT IN ('dispatching', 'delivering')`;
  const result = await updateAndCount(db, batch.runId, {
    preparedAs: 'finish_deliveries',
    with: sql`input AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(batch.outcomes)}::jsonb) AS i(
        id bigint, claim_id uuid, status text, reason text, error_code text, last_error text,
        provider_message_id text, next_attempt_at timestamptz, text text, connection_id uuid)),
    -- Kept even when the claim was taken over: the provider did accept that message.
    mapped AS (
      INSERT INTO provider_messages (connection_id, provider_message_id, delivery_id)
      SELECT connection_id, provider_message_id, id FROM input
      WHERE status = 'sent' AND connection_id IS NOT NULL AND provider_message_id IS NOT NULL
      ON CONFLICT DO NOTHING)`,
    update: sql`
      UPDATE deliveries d SET
        status              = CASE WHEN ${cancelled} THEN 'skipped' ELSE i.status END,
        reason              = CASE WHEN ${cancelled} THEN 'cancelled' ELSE i.reason END,
        error_code          = i.error_code,
        last_error          = i.last_error,
        provider_message_id = coalesce(i.provider_message_id, d.provider_message_id),
        next_attempt_at     = i.next_attempt_at,
        text                = coalesce(i.text, d.text),
        sent_at             = CASE WHEN i.status = 'sent' THEN now() ELSE d.sent_at END,
        claim_id = NULL, lease_until = NULL, updated_at = now()
      FROM input i
      -- Rows are found by primary key only. A claim's id stands for \`status = 'sending'\` in this
      -- run (claims are made per run, and a CHECK ties claim_id to 'sending'); naming the run or
      -- the status here let the planner, misled by a run's rows not yet analysed, scan the whole
      -- run through deliveries_run_id_idx on every batch (23 ms per batch at 100,000 rows).
      WHERE ${RUN_LOCKED} AND d.id = i.id AND d.claim_id = i.claim_id
      RETURNING d.status`,
  });
  return result.runStatus;
}

/**
 * Makes every due `queued` delivery of a chunk (or, with no range, of the run's channel) final
 * at once: skipped when the bot has no connection for the channel, failed when the connection
 * was refused by its provider. Counted on the run like any outcome. Returns how many.
 */
export async function closeQueuedDeliveries(
  db: Db,
  close: { runId: string; channel: ChannelName; range?: { firstId: string; lastId: string } } & {
    status: 'skipped' | 'failed';
    reason: DeliveryReason;
    errorCode?: string | null;
    lastError?: string | null;
  },
): Promise<number> {
  const inRange = close.range ? sql`AND id BETWEEN ${close.range.firstId} AND ${close.range.lastId}` : sql``;
  const result = await updateAndCount(db, close.runId, {
    update: sql`
      UPDATE deliveries SET status = ${close.status}, reason = ${close.reason}, error_code = ${close.errorCode ?? null},
             last_error = ${close.lastError ?? null}, next_attempt_at = NULL, updated_at = now()
      WHERE ${RUN_LOCKED} AND run_id = ${close.runId} AND channel = ${close.channel} AND status = 'queued' ${inRange}
      RETURNING status`,
  });
  return result.changed;
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

/**
 * Gates an `update` of `updateAndCount`: its one-time filter reads the locked run before any
 * delivery row is touched, so the run's lock is always taken first.
 */
const RUN_LOCKED = sql`(SELECT status FROM run) IS NOT NULL`;

/**
 * The one way deliveries are made final (SPEC §4: counts exact): one statement that locks the
 * run's row first (the CTE `run`, which the update reads through RUN_LOCKED; the cancel locks
 * in the same order), runs `update` (an UPDATE of the run's deliveries, `RETURNING` their new
 * status, which may read the run's status as `(SELECT status FROM run)` and the CTEs given in
 * `with`), and adds what it made final to the run's counters, completion and rate window.
 * Returns the run's status after it and how many deliveries the update changed.
 */
async function updateAndCount(
  db: Db,
  runId: string,
  statement: { with?: RawBuilder<unknown>; update: RawBuilder<unknown>; preparedAs?: string },
): Promise<{ runStatus: string | null; changed: number }> {
  const { rows } = await sql<{ status: string; changed: number }>`${statement.preparedAs ? prepared(statement.preparedAs) : sql``}
    WITH run AS (SELECT status FROM runs WHERE id = ${runId} FOR UPDATE),
    ${statement.with ? sql`${statement.with},` : sql``}
    updated AS (${statement.update}),
    counted AS (
      SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent,
             count(*) FILTER (WHERE status = 'failed')::int AS failed,
             count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
             count(*) FILTER (WHERE status <> 'queued')::int AS n,
             count(*)::int AS changed
      FROM updated
    )
    UPDATE runs SET ${countersSet()}
    FROM counted WHERE runs.id = ${runId}
    RETURNING runs.status, counted.changed`.execute(db);
  return { runStatus: rows[0]?.status ?? null, changed: rows[0]?.changed ?? 0 };
}

/**
 * The SET list that adds `counted` (sent, failed, skipped, n) to a run: its counters, its
 * completion (a delivering run whose counters reach `targeted`), its rate window. Every
 * expression reads the row being updated, so concurrent writers add up.
 */
function countersSet(): RawBuilder<unknown> {
  const window = sql.raw(`interval '${RATE_WINDOW_SECONDS} seconds'`);
  return sql`
      sent = runs.sent + counted.sent, failed = runs.failed + counted.failed, skipped = runs.skipped + counted.skipped,
      status      = CASE WHEN runs.status = 'delivering' AND runs.sent + runs.failed + runs.skipped + counted.n >= runs.targeted
                         THEN 'completed' ELSE runs.status END,
      finished_at = CASE WHEN runs.status = 'delivering' AND runs.sent + runs.failed + runs.skipped + counted.n >= runs.targeted
                         THEN now() ELSE runs.finished_at END,
      rate_per_second  = CASE WHEN now() - runs.rate_window_at >= ${window}
                              THEN (runs.rate_window_done + counted.n) / extract(epoch FROM now() - runs.rate_window_at)
                              ELSE runs.rate_per_second END,
      rate_window_done = CASE WHEN runs.rate_window_at IS NULL THEN counted.n WHEN now() - runs.rate_window_at >= ${window} THEN 0
                              ELSE runs.rate_window_done + counted.n END,
      rate_window_at   = CASE WHEN runs.rate_window_at IS NULL OR now() - runs.rate_window_at >= ${window} THEN now()
                              ELSE runs.rate_window_at END,
      updated_at = now()`;
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
 * they are skipped as `cancelled` (and counted), one statement per run; their leases go, as do
 * the expired leases of runs that ended or were deleted. Returns how many deliveries were closed.
 */
export async function closeExpiredClaimsOfStoppedRuns(db: Db): Promise<number> {
  const { rows: runs } = await sql<{ run_id: string }>`
    SELECT DISTINCT l.run_id FROM delivery_leases l LEFT JOIN runs r ON r.id = l.run_id
    WHERE l.lease_until < now() AND (r.id IS NULL OR r.status NOT IN ('dispatching', 'delivering'))
    LIMIT 100`.execute(db);
  let closed = 0;
  for (const { run_id: runId } of runs) {
    const result = await updateAndCount(db, runId, {
      with: sql`expired AS (
        DELETE FROM delivery_leases WHERE run_id = ${runId} AND lease_until < now()
        RETURNING claim_id, first_id, last_id)`,
      update: sql`
        UPDATE deliveries d SET status = 'skipped', reason = 'cancelled', claim_id = NULL, lease_until = NULL, updated_at = now()
        FROM expired e
        WHERE ${RUN_LOCKED} AND d.id BETWEEN e.first_id AND e.last_id AND d.claim_id = e.claim_id
        RETURNING d.status`,
    });
    closed += result.changed;
  }
  return closed;
}

/**
 * Claims whose worker died (lease expired) in runs still delivering: their deliveries go back
 * to `queued`, to be sent again (at-least-once: the provider may have accepted the message
 * before the worker died). Every expired lease of such a run goes, oldest first, `perStatement`
 * at a time and at most `maxStatements` times — most are of claims that finished normally and
 * release nothing, and a busy minute of delivery leaves thousands. Returns the released
 * deliveries per run and channel with their id span, so the caller can add a chunk job over them.
 */
export async function releaseExpiredClaims(db: Db, perStatement = 5_000, maxStatements = 20): Promise<ChunkRange[]> {
  const released: ChunkRange[] = [];
  for (let statement = 0; statement < maxStatements; statement++) {
    const { rows } = await sql<ChunkRange & { leases: number }>`
      WITH expired AS (
        DELETE FROM delivery_leases l WHERE l.claim_id IN (
          SELECT l2.claim_id FROM delivery_leases l2 JOIN runs r ON r.id = l2.run_id
          WHERE l2.lease_until < now() AND r.status IN ('dispatching', 'delivering')
          ORDER BY l2.lease_until LIMIT ${perStatement} FOR UPDATE OF l2 SKIP LOCKED)
        RETURNING l.claim_id, l.first_id, l.last_id
      ), released AS (
        -- By primary key and claim: a claim's rows hold its id exactly while they are being sent.
        UPDATE deliveries d SET status = 'queued', claim_id = NULL, lease_until = NULL, next_attempt_at = NULL, updated_at = now()
        FROM expired e
        WHERE d.id BETWEEN e.first_id AND e.last_id AND d.claim_id = e.claim_id
        RETURNING d.run_id, d.channel, d.id
      ), spans AS (
        SELECT run_id AS "runId", channel, min(id)::text AS "firstId", max(id)::text AS "lastId"
        FROM released GROUP BY run_id, channel
      )
      -- One row even when nothing was released, to carry how many leases went.
      SELECT spans.*, (SELECT count(*) FROM expired)::int AS leases
      FROM (SELECT 1) AS one LEFT JOIN spans ON true`.execute(db);
    for (const { runId, channel, firstId, lastId } of rows) if (runId !== null) released.push({ runId, channel, firstId, lastId });
    if ((rows[0]?.leases ?? 0) < perStatement) break;
  }
  return released;
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
