import { sql } from 'kysely';
import { prepared, type Db } from '../create-db';

/**
 * Receipts and opt-outs reported by providers' callbacks (issue 12), applied set-based: one
 * statement per batch of callbacks, however many deliveries and runs it touches.
 *
 * A delivery keeps the earliest time of each fact (delivered, read, failed), so applying
 * receipts is a merge: any order, any number of repeats, gives the same row, and the run's
 * counters move by exactly what the row changed. Its status follows from the facts: a message
 * known delivered is `sent`; a failure reported without a delivery makes it `failed`
 * (`undelivered`).
 */

/** One receipt as recorded: what it names, and what it reports. */
export interface ReceiptRow {
  connectionId: string;
  /** The provider's message id (kept at send time in `provider_messages`)… */
  providerMessageId?: string;
  /** …or Herald's delivery id (custom channel)… */
  deliveryId?: string;
  /**
   * …or every message sent to this user of the connection's channel up to the receipt's time
   * (Messenger reports reads by such a watermark, not by message). Never parked: a watermark
   * that covers no broadcast message is normal (the user read a conversation's messages).
   */
  watermarkAddress?: string;
  deliveredAt?: Date | null;
  readAt?: Date | null;
  failure?: { at: Date; code: string; message: string } | null;
}

export interface AppliedReceipts {
  /** Deliveries whose row the batch changed (a repeat changes none). */
  changed: number;
  /** Of those, how many first became delivered, read, or failed (undelivered). */
  delivered: number;
  read: number;
  failed: number;
  /** Receipts whose delivery is not (yet) known as sent: parked in `pending_receipts`. */
  parked: number;
}

/**
 * Applies a batch of receipts. Those naming a message not recorded as sent yet are parked in
 * `pending_receipts` (the provider called back before the worker recorded its send) for
 * `applyPendingReceipts` to apply later.
 */
export async function applyReceipts(db: Db, receipts: readonly ReceiptRow[]): Promise<AppliedReceipts> {
  if (receipts.length === 0) return { changed: 0, delivered: 0, read: 0, failed: 0, parked: 0 };
  const input = receipts.map((r, ord) => ({
    ord,
    connection_id: r.connectionId,
    provider_message_id: r.providerMessageId ?? null,
    delivery_id: r.deliveryId ?? null,
    watermark_address: r.watermarkAddress ?? null,
    delivered_at: r.deliveredAt ?? null,
    read_at: r.readAt ?? null,
    failed_at: r.failure?.at ?? null,
    error_code: r.failure?.code.slice(0, 100) ?? null,
    error_message: r.failure?.message.slice(0, 1000) ?? null,
  }));
  const { rows } = await withDeadlockRetry(() =>
    sql<AppliedReceipts>`${prepared('apply_receipts')}
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(
          ord int, connection_id uuid, provider_message_id text, delivery_id bigint, watermark_address text,
          delivered_at timestamptz, read_at timestamptz, failed_at timestamptz, error_code text, error_message text)
      ), ${APPLY},
      parked AS (
        INSERT INTO pending_receipts (connection_id, provider_message_id, delivery_id, delivered_at, read_at, failed_at, error_code, error_message)
        SELECT i.connection_id, i.provider_message_id, i.delivery_id, i.delivered_at, i.read_at, i.failed_at, i.error_code, i.error_message
        FROM input i WHERE i.watermark_address IS NULL AND NOT EXISTS (SELECT 1 FROM matched m WHERE m.ord = i.ord)
        RETURNING 1
      )
      -- Data-modifying CTEs run whether or not they are read: \`counted\` moves the runs.
      SELECT (SELECT count(*) FROM updated)::int AS changed, (SELECT count(*) FROM parked)::int AS parked,
             (SELECT coalesce(sum(delivered), 0) FROM moved)::int AS delivered, (SELECT coalesce(sum(read), 0) FROM moved)::int AS read,
             (SELECT count(*) FROM updated WHERE status = 'failed' AND old_status <> 'failed')::int AS failed`.execute(db),
  );
  return rows[0]!;
}

/**
 * Applies the parked receipts whose send has been recorded since, deletes them, and drops
 * those parked longer than `maxAgeMs` (a message Herald never sent, or one sent by a
 * connection since deleted): `perStatement` at a time in id order, at most `maxStatements`
 * statements. Returns how many were applied and dropped.
 */
export async function applyPendingReceipts(
  db: Db,
  { perStatement = 5_000, maxStatements = 20, maxAgeMs = 86_400_000 } = {},
): Promise<{ applied: number; dropped: number }> {
  const total = { applied: 0, dropped: 0 };
  let after = '0';
  for (let statement = 0; statement < maxStatements; statement++) {
    const pass = await applyPendingAfter(db, after, perStatement, maxAgeMs);
    total.applied += pass.applied;
    total.dropped += pass.dropped;
    if (pass.last === null || pass.read < perStatement) break;
    after = pass.last;
  }
  return total;
}

async function applyPendingAfter(
  db: Db,
  after: string,
  limit: number,
  maxAgeMs: number,
): Promise<{ applied: number; dropped: number; read: number; last: string | null }> {
  const { rows } = await withDeadlockRetry(() =>
    sql<{ applied: number; dropped: number; read: number; last: string | null }>`
      WITH input AS (
        SELECT id AS ord, connection_id, provider_message_id, delivery_id, NULL::text AS watermark_address, delivered_at, read_at, failed_at, error_code, error_message
        FROM pending_receipts WHERE id > ${after} ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ), ${APPLY},
      applied AS (DELETE FROM pending_receipts p USING matched m WHERE p.id = m.ord RETURNING 1),
      dropped AS (
        DELETE FROM pending_receipts p USING input i
        WHERE p.id = i.ord AND p.received_at < now() - ${maxAgeMs} * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM matched m WHERE m.ord = i.ord)
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM applied)::int AS applied, (SELECT count(*) FROM dropped)::int AS dropped,
             (SELECT count(*) FROM input)::int AS read, (SELECT max(ord)::text FROM input) AS last`.execute(db),
  );
  return rows[0]!;
}

/**
 * The merge, as CTEs over `input` (ord, connection_id, provider_message_id | delivery_id, the
 * facts): `matched` (which input rows name a delivery recorded as sent, and which),
 * `updated` (the deliveries changed, with their old values) and `counted` (the runs moved).
 *
 * - A receipt names a delivery by the provider's id, through `provider_messages` of its
 *   connection; by Herald's id when the delivery went out on that connection's bot and
 *   channel (a custom endpoint cannot name another bot's deliveries); or by a watermark.
 * - Receipts for one delivery in one batch are folded first (the earliest of each fact), so
 *   the UPDATE sees one input row per delivery.
 * - Rows are locked in id order, then their runs. The outcome statements lock a run, then rows
 *   not yet sent, and a receipt only touches sent rows, so the two never wait on each other in
 *   a cycle; two receipt batches on the same runs may, and the one Postgres cancels runs again.
 * - A row whose facts do not change is not written: a repeat costs no write at all.
 * - Counters move by the difference: `sent`↔`failed` when a failure or a late delivery
 *   changes the status (the sum stays `targeted`), `delivered` and `read` when first known.
 *   A run's `updated_at` is left alone: it tells the reconciler whether sending progresses.
 */
const APPLY = sql`
  matched AS (
    SELECT i.ord, d.id, d.run_id
    FROM input i
    JOIN provider_messages pm ON pm.connection_id = i.connection_id AND pm.provider_message_id = i.provider_message_id
    JOIN deliveries d ON d.id = pm.delivery_id
    WHERE d.sent_at IS NOT NULL AND d.status IN ('sent', 'failed')
    UNION ALL
    SELECT i.ord, d.id, d.run_id
    FROM input i
    JOIN deliveries d ON d.id = i.delivery_id
    JOIN channel_connections cc ON cc.id = i.connection_id AND cc.channel = d.channel
    JOIN runs r ON r.id = d.run_id
    JOIN broadcasts b ON b.id = r.broadcast_id AND b.bot_id = cc.bot_id
    WHERE d.sent_at IS NOT NULL AND d.status IN ('sent', 'failed')
    UNION ALL
    -- Through the unique (run_id, contact_id) of the bot's runs of the 30 days before the
    -- watermark (runs_broadcast_created_idx): no index on deliveries is needed for it.
    SELECT i.ord, d.id, d.run_id
    FROM input i
    JOIN channel_connections cc ON cc.id = i.connection_id
    JOIN contacts c ON c.bot_id = cc.bot_id AND c.bot_channel = cc.channel AND c.user_id = i.watermark_address
    JOIN broadcasts b ON b.bot_id = cc.bot_id
    JOIN runs r ON r.broadcast_id = b.id
     AND r.created_at BETWEEN coalesce(i.read_at, i.delivered_at) - interval '30 days' AND coalesce(i.read_at, i.delivered_at)
    JOIN deliveries d ON d.run_id = r.id AND d.contact_id = c.id AND d.channel = cc.channel
    WHERE d.sent_at <= coalesce(i.read_at, i.delivered_at) AND d.status IN ('sent', 'failed')
  ), folded AS (
    SELECT m.id,
           min(least(i.delivered_at, i.read_at)) AS delivered_at,
           min(i.read_at) AS read_at,
           (array_agg(i.failed_at ORDER BY i.failed_at, i.ord) FILTER (WHERE i.failed_at IS NOT NULL))[1] AS failed_at,
           (array_agg(i.error_code ORDER BY i.failed_at, i.ord) FILTER (WHERE i.failed_at IS NOT NULL))[1] AS error_code,
           (array_agg(i.error_message ORDER BY i.failed_at, i.ord) FILTER (WHERE i.failed_at IS NOT NULL))[1] AS error_message
    FROM matched m JOIN input i ON i.ord = m.ord
    GROUP BY m.id
  ), locked AS (
    SELECT d.id, d.run_id, d.status, d.delivered_at, d.read_at, d.failed_at
    FROM deliveries d JOIN folded f ON f.id = d.id
    ORDER BY d.id
    FOR UPDATE OF d
  ), merged AS (
    SELECT l.id, l.run_id, l.status AS old_status, l.delivered_at AS old_delivered_at, l.read_at AS old_read_at, l.failed_at AS old_failed_at,
           least(l.delivered_at, f.delivered_at) AS delivered_at,
           least(l.read_at, f.read_at) AS read_at,
           f.failed_at IS NOT NULL AND (l.failed_at IS NULL OR f.failed_at < l.failed_at) AS new_failure,
           f.failed_at, f.error_code, f.error_message
    FROM locked l JOIN folded f ON f.id = l.id
  ), updated AS (
    UPDATE deliveries d SET
      delivered_at = m.delivered_at,
      read_at      = m.read_at,
      failed_at    = CASE WHEN m.new_failure THEN m.failed_at ELSE d.failed_at END,
      error_code   = CASE WHEN m.new_failure THEN m.error_code ELSE d.error_code END,
      last_error   = CASE WHEN m.new_failure THEN m.error_message ELSE d.last_error END,
      status       = CASE WHEN m.delivered_at IS NOT NULL THEN 'sent'
                          WHEN m.new_failure OR d.failed_at IS NOT NULL THEN 'failed' ELSE d.status END,
      reason       = CASE WHEN m.delivered_at IS NOT NULL THEN NULL
                          WHEN m.new_failure OR d.failed_at IS NOT NULL THEN 'undelivered' ELSE d.reason END,
      updated_at   = now()
    FROM merged m
    WHERE d.id = m.id
      AND (m.new_failure OR m.delivered_at IS DISTINCT FROM m.old_delivered_at OR m.read_at IS DISTINCT FROM m.old_read_at)
    RETURNING d.run_id, m.old_status, d.status, m.old_delivered_at, d.delivered_at, m.old_read_at, d.read_at
  ), moved AS (
    SELECT run_id,
           (count(*) FILTER (WHERE status = 'sent') - count(*) FILTER (WHERE old_status = 'sent'))::int AS sent,
           (count(*) FILTER (WHERE status = 'failed') - count(*) FILTER (WHERE old_status = 'failed'))::int AS failed,
           count(*) FILTER (WHERE delivered_at IS NOT NULL AND old_delivered_at IS NULL)::int AS delivered,
           count(*) FILTER (WHERE read_at IS NOT NULL AND old_read_at IS NULL)::int AS read
    FROM updated GROUP BY run_id
  ), counted AS (
    UPDATE runs r SET sent = r.sent + x.sent, failed = r.failed + x.failed, delivered = r.delivered + x.delivered, read = r.read + x.read
    FROM (SELECT * FROM moved ORDER BY run_id) x
    WHERE r.id = x.run_id
    RETURNING r.id
  )`;

/** One opt-out (or opt-in) signal from a provider's callback, naming the contact by its address. */
export interface OptOutSignal {
  connectionId: string;
  /** The user's address on the channel: a phone number (E.164), a WhatsApp id, a page-scoped id. */
  address: string;
  optOut: boolean;
  /** Why, kept on the contact: the keyword, or the provider's signal. */
  reason: string;
  at: Date;
}

/**
 * Applies opt-out and opt-in signals, one statement for the batch: the contact of the
 * connection's bot and channel whose user id is the address — or, on phone channels, whose
 * number (`user_phone_number`, else `user_id`) is the address once written in E.164 — is
 * opted out (the first time and reason are kept) or back in. Per address, the latest signal
 * of the batch wins. Returns how many contacts were opted out and back in.
 */
export async function applyOptOutSignals(db: Db, signals: readonly OptOutSignal[]): Promise<{ optedOut: number; optedIn: number }> {
  if (signals.length === 0) return { optedOut: 0, optedIn: 0 };
  const input = signals.map((s, ord) => ({
    ord,
    connection_id: s.connectionId,
    address: s.address,
    opt_out: s.optOut,
    reason: s.reason.slice(0, 200),
    at: s.at,
  }));
  // E.164 as the Twilio adapter writes a contact's number (e164 in channels): separators
  // dropped, a leading 00 or + read as the international prefix.
  const e164 = sql`'+' || regexp_replace(regexp_replace(coalesce(c.user_phone_number, c.user_id), '[\\s().\\-/]', '', 'g'), '^(\\+|00)', '')`;
  const { rows } = await sql<{ optedOut: number; optedIn: number }>`${prepared('apply_opt_out_signals')}
    WITH input AS (
      SELECT DISTINCT ON (i.connection_id, i.address) i.*
      FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(ord int, connection_id uuid, address text, opt_out boolean, reason text, at timestamptz)
      ORDER BY i.connection_id, i.address, i.at DESC, i.ord DESC
    ), target AS (
      SELECT DISTINCT ON (c.id) c.id, i.opt_out, i.reason, i.at
      FROM input i
      JOIN channel_connections cc ON cc.id = i.connection_id
      JOIN contacts c ON c.bot_id = cc.bot_id AND c.bot_channel = cc.channel
       AND (c.user_id = i.address OR (cc.channel IN ('SMSChannel', 'WhatsAppChannel', 'RCSChannel') AND ${e164} = '+' || ltrim(i.address, '+')))
      ORDER BY c.id, i.at DESC
    ), changed AS (
      UPDATE contacts c SET
        opted_out_at   = CASE WHEN t.opt_out THEN coalesce(c.opted_out_at, t.at) END,
        opt_out_reason = CASE WHEN t.opt_out THEN coalesce(c.opt_out_reason, t.reason) END,
        updated_at     = now()
      FROM target t
      WHERE c.id = t.id AND (c.opted_out_at IS NULL) = t.opt_out
      RETURNING t.opt_out
    )
    SELECT count(*) FILTER (WHERE opt_out)::int AS "optedOut", count(*) FILTER (WHERE NOT opt_out)::int AS "optedIn" FROM changed`.execute(db);
  return rows[0]!;
}

/** Postgres' deadlock_detected: one of the two statements is cancelled and can simply run again. */
async function withDeadlockRetry<T>(statement: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if (attempt >= attempts || (error as { code?: unknown }).code !== '40P01') throw error;
    }
  }
}
