import { sql, type RawBuilder } from 'kysely';
import { WRITABLE_COLUMNS, type Audience, type ChannelName, type WritableColumn } from '@herald/core';
import { audienceCondition } from '../audience-sql';
import type { Db } from '../create-db';
import type { VariableValue } from '../schema';
import { contactUpsertStatement, type ContactUpsert } from './contacts.queries';

/**
 * The set-based steps of a dispatch (SPEC §3.2). Each takes the caller's transaction. The unique
 * key on deliveries (run_id, contact_id) with ON CONFLICT DO NOTHING is what makes every step
 * safe to repeat: a contact targeted twice, or a step redone after a crash, gets one delivery.
 */

export interface ContactWrites {
  columns: Partial<Record<WritableColumn, string | null>>;
  variables: Record<string, VariableValue>;
}

/** A run being dispatched: the triggers it holds are its broadcast's pending ones up to `lastTriggerSeq`. */
export interface ClaimedRun {
  runId: string;
  resumed: boolean;
  broadcastId: string;
  lastTriggerSeq: string;
}

/**
 * The boundary of the run being dispatched for `broadcastId` (a value or a column reference):
 * its broadcast's pending triggers with seq up to it are that run's; 0 when none is
 * dispatching. A pending trigger past it is in no run yet and waits for a timer.
 */
export function dispatchingBoundary(broadcastId: string | RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`coalesce((
    SELECT max(r.last_trigger_seq) FROM runs r
    WHERE r.broadcast_id = ${broadcastId} AND r.status = 'dispatching'), 0)`;
}

/**
 * The run to work on for a broadcast: the one a crashed dispatch left `dispatching` (resumed),
 * or a new run holding every trigger pending now (its boundary: the last of them by seq).
 * Null when there is nothing to do. The broadcast row is locked meanwhile, so two workers never
 * claim the same triggers; triggers accepted from now on wait for the next run.
 */
export async function claimRun(db: Db, broadcastId: string): Promise<ClaimedRun | null> {
  return db.transaction().execute(async (trx) => {
    const locked = await sql`SELECT 1 FROM broadcasts WHERE id = ${broadcastId} FOR UPDATE`.execute(trx);
    if (locked.rows.length === 0) return null;
    const unfinished = await trx
      .selectFrom('runs')
      .select(['id', 'last_trigger_seq'])
      .where('broadcast_id', '=', broadcastId)
      .where('status', '=', 'dispatching')
      .orderBy('created_at')
      .executeTakeFirst();
    // A run has a boundary from its claim on; a NULL one holds nothing still pending.
    if (unfinished) return { runId: unfinished.id, resumed: true, broadcastId, lastTriggerSeq: unfinished.last_trigger_seq ?? '0' };
    // One statement, one index step (triggers_pending_idx): no run when nothing is pending (a
    // duplicate or late timer), and no write to the triggers themselves.
    const { rows } = await sql<{ id: string; last_trigger_seq: string }>`
      INSERT INTO runs (broadcast_id, last_trigger_seq)
      SELECT ${broadcastId}, max(seq) FROM triggers WHERE broadcast_id = ${broadcastId} AND status = 'pending'
      HAVING max(seq) IS NOT NULL
      RETURNING id, last_trigger_seq`.execute(trx);
    const run = rows[0];
    return run ? { runId: run.id, resumed: false, broadcastId, lastTriggerSeq: run.last_trigger_seq } : null;
  });
}

/**
 * The next `limit` triggers of the run still to apply, in arrival order (keyset on seq). Walks
 * the broadcast's pending triggers (triggers_pending_idx) from `afterSeq` to the run's
 * boundary, so each batch reads its own rows only, not the whole run's.
 */
export async function nextTriggersToApply(db: Db, run: Pick<ClaimedRun, 'broadcastId' | 'lastTriggerSeq'>, afterSeq: string | null, limit: number) {
  let query = db
    .selectFrom('triggers')
    .select(['id', 'seq', 'request'])
    .where('broadcast_id', '=', run.broadcastId)
    .where('status', '=', 'pending')
    .where('seq', '<=', run.lastTriggerSeq)
    .orderBy('seq')
    .limit(limit);
  if (afterSeq !== null) query = query.where('seq', '>', afterSeq);
  return query.execute();
}

/**
 * Ends pending triggers of run `runId` with `status`, each with its notes, in one statement:
 * `dispatched` once applied, `failed` when the database refused one for good (its run goes on
 * without it); each gets its `run_id` here. False when any of them is no longer pending
 * (cancelled meanwhile): the caller rolls back.
 */
export async function markTriggers(
  db: Db,
  status: 'dispatched' | 'failed',
  runId: string,
  triggers: readonly { id: string; notes: string[] }[],
): Promise<boolean> {
  if (triggers.length === 0) return true;
  const result = await sql`
    UPDATE triggers t SET status = ${status}, run_id = ${runId}, status_changed_at = now(), notes = t.notes || i.notes
    FROM jsonb_to_recordset(${JSON.stringify(triggers)}::jsonb) AS i(id uuid, notes jsonb)
    WHERE t.id = i.id AND t.status = 'pending'`.execute(db);
  return Number(result.numAffectedRows ?? 0n) === triggers.length;
}

/**
 * Makes the caller's transaction the only dispatch batch of `botId` until it ends (a
 * transaction advisory lock; the two-key form, apart from the one-key locks elsewhere). A batch
 * writes contacts over several statements, each locking rows in its own order (a targets
 * upsert in arrival order, an audience UPDATE in scan order), so two batches of one bot writing
 * the same contacts (two of its broadcasts, per-user calls for the same users) could deadlock;
 * several at once deadlocked over and over, each cycle costing `deadlock_timeout`, and runs
 * stopped completing (pnpm test:soak: 50 broadcasts of one bot). Contacts belong to one bot,
 * so batches of different bots never wait for each other; a bot's batches take turns.
 * Take it before limitStatementTime: the wait is not the statement's fault.
 */
export async function lockBotForDispatch(trx: Db, botId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('herald:dispatch'), hashtext(${botId}))`.execute(trx);
}

/**
 * Bounds every statement of the caller's transaction to `ms` (SET LOCAL: it ends with the
 * transaction), so no trigger can hold its broadcast's dispatch, and its locks, for longer.
 */
export async function limitStatementTime(trx: Db, ms: number): Promise<void> {
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`statement timeout must be a positive integer, got ${ms}`);
  // SET takes no bind parameters: the value is a checked integer.
  await sql.raw(`SET LOCAL statement_timeout = ${ms}`).execute(trx);
}

/** `SET first_name = …, variables = variables || …` for the writes given; null when there are none. */
function contactSet(writes: ContactWrites, table: string): RawBuilder<unknown> | null {
  const parts: RawBuilder<unknown>[] = Object.entries(writes.columns).map(
    // Column names come from WRITABLE_COLUMNS (an allow-list); values are bound.
    ([column, value]) => sql`${sql.ref(column)} = ${value}`,
  );
  if (Object.keys(writes.variables).length) {
    parts.push(sql`variables = ${sql.ref(`${table}.variables`)} || ${JSON.stringify(writes.variables)}::jsonb`);
  }
  if (parts.length === 0) return null;
  parts.push(sql`updated_at = now()`);
  return sql.join(parts);
}

/**
 * Audience mode: the contacts matching `audience` get `writes` and a delivery, in one
 * statement. The audience is evaluated once, before the writes (one snapshot for the whole
 * statement), so a call that filters on red and sets blue still reaches the red ones.
 */
export async function applyToAudience(db: Db, step: { botId: string; runId: string; audience: Audience; writes: ContactWrites }): Promise<{ reached: number }> {
  const set = contactSet(step.writes, 'c');
  const { rows } = await sql<{ reached: number }>`
    WITH targeted AS (
      SELECT id, bot_channel FROM contacts
      WHERE bot_id = ${step.botId} AND ${audienceCondition(step.audience)}
    )${set ? sql`, written AS (UPDATE contacts c SET ${set} FROM targeted t WHERE c.id = t.id)` : sql``},
    delivered AS (
      INSERT INTO deliveries (run_id, contact_id, channel)
      SELECT ${step.runId}, id, bot_channel FROM targeted
      ON CONFLICT (run_id, contact_id) DO NOTHING
    )
    SELECT count(*)::integer AS reached FROM targeted`.execute(db);
  return { reached: rows[0]?.reached ?? 0 };
}

/**
 * Of `names` (variable names an audience filters on, at most MAX_FILTERS), those that no
 * contact of the bot has: one pass over the bot's contacts, one `?` test per name and row,
 * each name a bound parameter. A full read, like the audience statement that reached no one
 * (the only time the dispatch asks).
 * A diagnosis inside the caller's transaction: it runs in a savepoint, and if it fails (the
 * statement timeout on a huge bot) the transaction goes on as before and the answer is
 * undefined (cannot tell).
 */
export async function variablesNoContactHas(trx: Db, botId: string, names: readonly string[]): Promise<string[] | undefined> {
  if (names.length === 0) return [];
  await sql`SAVEPOINT variables_no_contact_has`.execute(trx);
  try {
    const { rows } = await sql<{ has: Array<boolean | null> }>`
      SELECT ARRAY[${sql.join(names.map((name) => sql`bool_or(variables ? ${name})`))}] AS has
      FROM contacts WHERE bot_id = ${botId}`.execute(trx);
    await sql`RELEASE SAVEPOINT variables_no_contact_has`.execute(trx);
    const has = rows[0]?.has ?? [];
    return names.filter((_name, i) => has[i] !== true);
  } catch {
    await sql`ROLLBACK TO SAVEPOINT variables_no_contact_has`.execute(trx);
    return undefined;
  }
}

/**
 * Targets and created conversations: upsert the contacts (created when missing) and give each
 * a delivery, in one statement.
 */
export async function applyToContacts(db: Db, step: { botId: string; runId: string; contacts: readonly ContactUpsert[] }): Promise<void> {
  if (step.contacts.length === 0) return;
  await sql`
    WITH upserted AS (${contactUpsertStatement(step.botId, step.contacts)})
    INSERT INTO deliveries (run_id, contact_id, channel)
    SELECT ${step.runId}, id, bot_channel FROM upserted
    ON CONFLICT (run_id, contact_id) DO NOTHING`.execute(db);
}

/**
 * set_conversation's look-ups, many at once, each by user id (the given channel first), else
 * by phone, over the same state: the caller makes sure no look-up of the
 * batch depends on a write of the batch. Answers in the order asked; undefined when not found.
 */
export async function findConversations(
  db: Db,
  botId: string,
  lookups: readonly { userId: string | null; phone: string | null; channel: ChannelName | null }[],
): Promise<({ id: string; bot_channel: ChannelName } | undefined)[]> {
  if (lookups.length === 0) return [];
  const input = lookups.map((lookup, n) => ({ n, user_id: lookup.userId, phone: lookup.phone, channel: lookup.channel }));
  const { rows } = await sql<{ n: number; id: string | null; bot_channel: ChannelName | null }>`
    SELECT i.n, f.id, f.bot_channel
    FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(n int, user_id text, phone text, channel text)
    LEFT JOIN LATERAL (
      SELECT id, bot_channel FROM (
        (SELECT id, bot_channel, 0 AS pass FROM contacts
         WHERE bot_id = ${botId} AND i.user_id IS NOT NULL AND user_id = i.user_id
         ORDER BY bot_channel = coalesce(i.channel, '') DESC, id LIMIT 1)
        UNION ALL
        (SELECT id, bot_channel, 1 AS pass FROM contacts
         WHERE bot_id = ${botId} AND i.phone IS NOT NULL AND user_phone_number = i.phone
         ORDER BY bot_channel = coalesce(i.channel, '') DESC, id LIMIT 1)
      ) AS candidates ORDER BY pass LIMIT 1
    ) AS f ON true`.execute(db);
  const found = new Array<{ id: string; bot_channel: ChannelName } | undefined>(lookups.length);
  for (const row of rows) if (row.id !== null) found[row.n] = { id: row.id, bot_channel: row.bot_channel! };
  return found;
}

/**
 * Known contacts (found by set_conversation) get their writes and a delivery, in one
 * statement. A column named in `columns` is set (null included); the others are kept.
 */
export async function applyToKnownContacts(
  db: Db,
  step: { runId: string; contacts: readonly { id: string; bot_channel: ChannelName; writes: ContactWrites }[] },
): Promise<void> {
  if (step.contacts.length === 0) return;
  const input = step.contacts.map((c) => ({ id: c.id, bot_channel: c.bot_channel, columns: c.writes.columns, variables: c.writes.variables }));
  // Column names come from WRITABLE_COLUMNS (an allow-list); values are bound in the JSON.
  const columns = WRITABLE_COLUMNS.map(
    (column) => sql`${sql.ref(column)} = CASE WHEN i.columns ? ${column} THEN i.columns->>${column} ELSE ${sql.ref(`c.${column}`)} END`,
  );
  await sql`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(id bigint, bot_channel text, columns jsonb, variables jsonb)
    ), written AS (
      UPDATE contacts c SET ${sql.join(columns)}, variables = c.variables || i.variables, updated_at = now()
      FROM input i
      WHERE c.id = i.id AND (i.columns <> '{}'::jsonb OR i.variables <> '{}'::jsonb)
    )
    INSERT INTO deliveries (run_id, contact_id, channel)
    SELECT ${step.runId}, id, bot_channel FROM input
    ON CONFLICT (run_id, contact_id) DO NOTHING`.execute(db);
}

/**
 * Ends the dispatch stage: the run's exact count of targeted contacts, and its next status —
 * `delivering` while deliveries wait, `completed` when there are none or when every one was
 * already made final (chunks are delivered as soon as they are handed off, so a small run can
 * be done before its dispatch is). Keeps what `{{payload.…}}` renders: the body of the run's
 * last applied trigger that carries one. Null when the run was cancelled meanwhile.
 */
export async function finishDispatch(db: Db, runId: string): Promise<{ targeted: number; status: 'delivering' | 'completed' } | null> {
  const row = await sql<{ targeted: number; status: 'delivering' | 'completed' }>`
    WITH counted AS (SELECT count(*)::int AS n FROM deliveries WHERE run_id = ${runId}),
    last_payload AS (
      SELECT request->'payload' AS payload FROM triggers
      WHERE run_id = ${runId} AND status = 'dispatched' AND jsonb_typeof(request->'payload') = 'object'
      ORDER BY seq DESC LIMIT 1
    )
    -- The counters are read from the row being updated (its latest version, should an outcome
    -- have been counted meanwhile), not from a snapshot taken before the row lock.
    UPDATE runs SET
      targeted      = counted.n,
      status        = CASE WHEN counted.n = 0 OR sent + failed + skipped >= counted.n THEN 'completed' ELSE 'delivering' END,
      delivering_at = CASE WHEN counted.n > 0 THEN now() END,
      finished_at   = CASE WHEN counted.n = 0 OR sent + failed + skipped >= counted.n THEN now() END,
      payload       = (SELECT payload FROM last_payload),
      updated_at    = now()
    FROM counted
    WHERE id = ${runId} AND status = 'dispatching'
    RETURNING targeted, status`.execute(db);
  return row.rows[0] ?? null;
}

/** A run's deliveries on one channel with ids in [first_id, last_id]: one job's worth. */
export interface DeliveryChunk {
  channel: ChannelName;
  first_id: string;
  last_id: string;
  size: number;
}

/**
 * The next page of a run's deliveries after id `afterId` — up to `chunkSize * chunksPerPage`
 * rows, walked in id order on the (run_id, id) index (keyset, never OFFSET) — cut into chunks
 * of at most `chunkSize` deliveries of one channel. Empty when the run has none left.
 * A chunk's id range can interleave with another channel's: a chunk is its channel's
 * deliveries within the range, not every id in it.
 */
export async function nextDeliveryChunks(db: Db, page: { runId: string; afterId: string; chunkSize: number; chunksPerPage: number }): Promise<DeliveryChunk[]> {
  const result = await sql<DeliveryChunk>`
    SELECT channel, min(id)::text AS first_id, max(id)::text AS last_id, count(*)::int AS size
    FROM (
      SELECT id, channel,
             (row_number() OVER (PARTITION BY channel ORDER BY id) - 1) / ${page.chunkSize} AS chunk
      FROM (
        SELECT id, channel FROM deliveries
        WHERE run_id = ${page.runId} AND id > ${page.afterId}
        ORDER BY id
        LIMIT ${page.chunkSize * page.chunksPerPage}
      ) AS page
    ) AS numbered
    GROUP BY channel, chunk
    ORDER BY min(id)`.execute(db);
  return result.rows;
}

/** Where a run's hand-off stands: the last delivery id handed off, and the run's status. */
export async function handOffPosition(db: Db, runId: string) {
  return db.selectFrom('runs').select(['status', 'handed_off_through']).where('id', '=', runId).executeTakeFirst();
}

/**
 * Records that the deliveries up to id `throughId` are handed off. True while the run is still
 * dispatching (the hand-off may go on); false once it was cancelled or finished elsewhere. A page recorded already
 * (by another worker resuming the same run) is not counted twice.
 */
export async function recordHandOff(db: Db, step: { runId: string; throughId: string; deliveries: number }): Promise<boolean> {
  const result = await sql<{ status: string }>`
    WITH recorded AS (
      UPDATE runs SET
        handed_off_through = ${step.throughId},
        handed_off         = handed_off + ${step.deliveries},
        updated_at         = now()
      WHERE id = ${step.runId} AND status = 'dispatching' AND handed_off_through < ${step.throughId}::bigint
    )
    SELECT status FROM runs WHERE id = ${step.runId}`.execute(db);
  return result.rows[0]?.status === 'dispatching';
}
