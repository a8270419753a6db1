import { sql } from 'kysely';
import { prepared, type Db } from '../create-db';
import { isTransientConflict } from '../db-errors';

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
  /**
   * The failure also says the person opted out or blocked the sender (WhatsApp 131050, Twilio
   * 21610): the contact of the delivery it names is opted out, with this reason.
   */
  optOutReason?: string;
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
    error_code: r.failure ? storable(r.failure.code, 100) : null,
    error_message: r.failure ? storable(r.failure.message, 1000) : null,
    opt_out_reason: r.optOutReason && r.failure ? storable(r.optOutReason, 200) : null,
  }));
  const { rows } = await withDeadlockRetry(() =>
    sql<AppliedReceipts>`${prepared('apply_receipts')}
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(
          ord int, connection_id uuid, provider_message_id text, delivery_id bigint, watermark_address text,
          delivered_at timestamptz, read_at timestamptz, failed_at timestamptz, error_code text, error_message text, opt_out_reason text)
      ), ${APPLY},
      parked AS (
        INSERT INTO pending_receipts (connection_id, provider_message_id, delivery_id, delivered_at, read_at, failed_at, error_code, error_message, opt_out_reason)
        SELECT i.connection_id, i.provider_message_id, i.delivery_id, i.delivered_at, i.read_at, i.failed_at, i.error_code, i.error_message, i.opt_out_reason
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
 * those parked longer than `maxAgeMs`, an hour by default (a message Herald never sent: a
 * Twilio service or Meta number shared with other software reports theirs too; a send can
 * only beat its record by the outcome writer's delay, or a dead worker's lease): `perStatement` at a time in id order, at most `maxStatements`
 * statements. Returns how many were applied and dropped.
 */
export async function applyPendingReceipts(
  db: Db,
  { perStatement = 5_000, maxStatements = 20, maxAgeMs = 3_600_000 } = {},
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
        SELECT id AS ord, connection_id, provider_message_id, delivery_id, NULL::text AS watermark_address, delivered_at, read_at, failed_at,
               error_code, error_message, opt_out_reason
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

/** How far past a Messenger watermark a send recorded by Herald still counts as covered by it. */
const WATERMARK_SLACK = sql.raw(`interval '5 seconds'`);

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
    -- Herald's sent_at is when it recorded the send, a little after Meta took the message.
    WHERE d.sent_at <= coalesce(i.read_at, i.delivered_at) + ${WATERMARK_SLACK} AND d.status IN ('sent', 'failed')
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
  ), opted_out AS (
    -- A failure that says the person opted out opts out the contact it was sent to: by the
    -- delivery, not by an address (WhatsApp's recipient_id may be written otherwise).
    UPDATE contacts c SET
      opted_out_at = coalesce(c.opted_out_at, o.at), opt_out_reason = coalesce(c.opt_out_reason, o.reason),
      opt_out_signal_at = o.at, updated_at = now()
    FROM (
      SELECT DISTINCT ON (d.contact_id) d.contact_id, i.failed_at AS at, i.opt_out_reason AS reason
      FROM matched m JOIN input i ON i.ord = m.ord JOIN deliveries d ON d.id = m.id
      WHERE i.opt_out_reason IS NOT NULL
      ORDER BY d.contact_id, i.failed_at DESC
    ) o
    WHERE c.id = o.contact_id AND (c.opt_out_signal_at IS NULL OR o.at >= c.opt_out_signal_at)
    RETURNING 1
  )`;

/** Text as Postgres stores it: no NUL, no lone surrogate (either would fail the whole batch), at most `max` characters. */
function storable(text: string, max: number): string {
  return text
    .replaceAll('\u0000', '')
    .slice(0, max) // before the surrogates: a cut may split a pair
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

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
 * Applies opt-out and opt-in signals, one statement for the batch, to the contact of the
 * connection's bot and channel that the address names: by `user_id`, or on phone channels
 * (SMS, WhatsApp, RCS) by `user_id` or `user_phone_number` written as the same number with
 * `+`, without it, or with `00` (each an index look-up: no scan of the bot's contacts). A
 * signal older than the last one applied to the contact (`opt_out_signal_at`) is ignored,
 * so a retried START from before a STOP cannot undo it (at the same time, the later arrival
 * wins); in the batch, the latest per address wins. An opt-out keeps the first time and reason. Returns how many contacts changed state.
 */
export async function applyOptOutSignals(db: Db, signals: readonly OptOutSignal[]): Promise<{ optedOut: number; optedIn: number }> {
  if (signals.length === 0) return { optedOut: 0, optedIn: 0 };
  const input = signals.map((s, ord) => ({
    ord,
    connection_id: s.connectionId,
    addresses: addressForms(s.address),
    opt_out: s.optOut,
    reason: storable(s.reason, 200),
    at: s.at,
  }));
  const { rows } = await withDeadlockRetry(() =>
    sql<{ optedOut: number; optedIn: number }>`${prepared('apply_opt_out_signals')}
      WITH input AS (
        SELECT DISTINCT ON (i.connection_id, i.addresses->>0) i.*
        FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(ord int, connection_id uuid, addresses jsonb, opt_out boolean, reason text, at timestamptz)
        ORDER BY i.connection_id, i.addresses->>0, i.at DESC, i.ord DESC
      ), target AS (
        SELECT DISTINCT ON (found.id) found.id, i.opt_out, i.reason, i.at
        FROM input i
        JOIN channel_connections cc ON cc.id = i.connection_id
        CROSS JOIN LATERAL (
          SELECT ARRAY(SELECT jsonb_array_elements_text(
            CASE WHEN cc.channel IN ('SMSChannel', 'WhatsAppChannel', 'RCSChannel') THEN i.addresses ELSE jsonb_build_array(i.addresses -> 0) END
          )) AS forms
        ) a
        CROSS JOIN LATERAL (
          SELECT c.id FROM contacts c WHERE c.bot_id = cc.bot_id AND c.user_id = ANY (a.forms) AND c.bot_channel = cc.channel
          UNION
          SELECT c.id FROM contacts c
          WHERE cc.channel IN ('SMSChannel', 'WhatsAppChannel', 'RCSChannel')
            AND c.bot_id = cc.bot_id AND c.user_phone_number = ANY (a.forms) AND c.bot_channel = cc.channel
        ) found
        ORDER BY found.id, i.at DESC
      ), locked AS (
        SELECT c.id, c.opted_out_at IS NOT NULL AS was_out
        FROM contacts c JOIN target t ON t.id = c.id
        WHERE c.opt_out_signal_at IS NULL OR t.at >= c.opt_out_signal_at
        ORDER BY c.id
        FOR UPDATE OF c
      ), changed AS (
        UPDATE contacts c SET
          opted_out_at      = CASE WHEN t.opt_out THEN coalesce(c.opted_out_at, t.at) END,
          opt_out_reason    = CASE WHEN t.opt_out THEN coalesce(c.opt_out_reason, t.reason) END,
          opt_out_signal_at = t.at,
          updated_at        = now()
        FROM target t JOIN locked l ON l.id = t.id
        WHERE c.id = t.id AND (c.opt_out_signal_at IS NULL OR t.at >= c.opt_out_signal_at)
        RETURNING t.opt_out, l.was_out
      )
      SELECT count(*) FILTER (WHERE opt_out AND NOT was_out)::int AS "optedOut",
             count(*) FILTER (WHERE NOT opt_out AND was_out)::int AS "optedIn"
      FROM changed`.execute(db),
  );
  return rows[0]!;
}

/**
 * The address as given first, then, when it is a phone number, the other ways a contact's
 * number may be stored: `+<digits>`, `<digits>`, `00<digits>`.
 */
function addressForms(address: string): string[] {
  const digits = /^(\+|00)?(\d{6,15})$/.exec(address.replace(/[\s().-]/g, ''))?.[2];
  return digits ? [...new Set([address, `+${digits}`, digits, `00${digits}`])] : [address];
}

/**
 * A statement that lost a race (here: a deadlock between two batches on the same runs; it
 * changed nothing) simply runs again.
 */
async function withDeadlockRetry<T>(statement: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if (attempt >= attempts || !isTransientConflict(error)) throw error;
    }
  }
}
