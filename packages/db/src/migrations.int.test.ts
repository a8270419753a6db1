import { sql } from 'kysely';
import { tokenDigest } from '@herald/core';
import { createBotRow, createTriggerRow, databaseUrl, dropDatabase, runDatabasePrefix, useTestDatabase } from '@herald/testing';
import { findHookBroadcast } from './queries/hook.queries';
import { ensureDatabaseExists } from './ensure-database';
import { migrateDown, migrateToEmpty, migrateToLatest, migrationStatus } from './migrate';
import { migrations } from './migrations';
import { toJson, type Db } from './index';

const TABLES = [
  'bots',
  'broadcasts',
  'channel_connections',
  'contacts',
  'deliveries',
  'delivery_leases',
  'idempotency_keys',
  'pending_receipts',
  'provider_messages',
  'runs',
  'triggers',
  'web_outbox',
];

async function tablesOf(db: Db): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'
    ORDER BY table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

describe('migrations on an empty database', () => {
  const database = useTestDatabase({ migrated: false });

  it('go up, all the way down, and up again', async () => {
    const { db } = database.current;
    expect(await tablesOf(db)).toEqual([]);

    const up = await migrateToLatest(db);
    expect(up).toEqual({ direction: 'up', applied: Object.keys(migrations) });
    expect(await tablesOf(db)).toEqual(TABLES);

    const down = await migrateToEmpty(db);
    expect(down.direction).toBe('down');
    expect(await tablesOf(db)).toEqual([]);

    await migrateToLatest(db);
    expect(await tablesOf(db)).toEqual(TABLES);
    expect((await migrationStatus(db)).every((m) => m.executedAt instanceof Date)).toBe(true);
  });

  it('reverts one migration at a time with migrateDown, and up is a no-op when current', async () => {
    const { db } = database.current;
    expect(await migrateToLatest(db)).toEqual({ direction: 'none', applied: [] });
    const names = Object.keys(migrations);
    expect(await migrateDown(db)).toEqual({ direction: 'down', applied: [names[names.length - 1]] });
    await migrateToLatest(db);
  });

  it('run trigger boundary: a run left dispatching by the previous version keeps its triggers, both ways', async () => {
    const { db } = database.current;
    const downToBeforeBoundary = async () => {
      // Every migration written since the boundary, newest first, then the boundary itself.
      const names = Object.keys(migrations);
      for (const name of names.slice(names.indexOf('2026-11-27T0100-run-trigger-boundary')).reverse()) {
        expect(await migrateDown(db)).toEqual({ direction: 'down', applied: [name] });
      }
    };
    await downToBeforeBoundary();
    // The previous version's state: a claimed run, its triggers marked with it, one applied.
    const bot = await createBotRow(db);
    const broadcast = await oldBroadcastRow(db, bot.id, 'boundary-token');
    const [applied, claimed, later] = [
      await createTriggerRow(db, broadcast.id),
      await createTriggerRow(db, broadcast.id),
      await createTriggerRow(db, broadcast.id),
    ];
    const {
      rows: [run],
    } = await sql<{ id: string }>`INSERT INTO runs (broadcast_id) VALUES (${broadcast.id}) RETURNING id`.execute(db);
    await sql`UPDATE triggers SET run_id = ${run!.id} WHERE id IN (${applied.id}, ${claimed.id})`.execute(db);
    await sql`UPDATE triggers SET status = 'dispatched' WHERE id = ${applied.id}`.execute(db);

    await migrateToLatest(db);
    const {
      rows: [boundary],
    } = await sql<{ last_trigger_seq: string }>`SELECT last_trigger_seq FROM runs WHERE id = ${run!.id}`.execute(db);
    expect(boundary!.last_trigger_seq).toBe(claimed.seq); // `later` stays out of the run

    await sql`UPDATE triggers SET run_id = NULL WHERE id = ${claimed.id}`.execute(db); // as this version leaves a pending trigger
    await downToBeforeBoundary();
    const { rows } = await sql<{
      id: string;
      run_id: string | null;
    }>`SELECT id, run_id FROM triggers WHERE broadcast_id = ${broadcast.id} ORDER BY seq`.execute(db);
    expect(rows).toEqual([
      { id: applied.id, run_id: run!.id },
      { id: claimed.id, run_id: run!.id },
      { id: later.id, run_id: null },
    ]);
    await migrateToLatest(db);
  });

  it('hook token hash only: keeps the digest and a 4-character hint, drops the token; down brings an empty column back', async () => {
    const { db } = database.current;
    const names = Object.keys(migrations);
    const target = '2026-11-27T0500-hook-token-hash-only';
    for (const name of names.slice(names.indexOf(target)).reverse()) expect(await migrateDown(db)).toEqual({ direction: 'down', applied: [name] });
    const bot = await createBotRow(db);
    const token = 'old-version-token-0123456789abcdefghijkWXYZ';
    const broadcast = await oldBroadcastRow(db, bot.id, token);

    await migrateToLatest(db);
    const row = await findHookBroadcast(db, tokenDigest(token));
    expect(row?.id).toBe(broadcast.id); // the hook keeps working: looked up by digest
    const { rows } = await sql<{ row: Record<string, unknown> }>`SELECT to_jsonb(b) AS row FROM broadcasts b WHERE id = ${broadcast.id}`.execute(db);
    expect(rows[0]!.row).toMatchObject({ hook_token_hint: 'WXYZ' });
    expect(rows[0]!.row).not.toHaveProperty('hook_token');
    expect(JSON.stringify(rows[0]!.row)).not.toContain(token);

    for (let down = names.length - names.indexOf(target); down > 0; down--) await migrateDown(db);
    const { rows: after } = await sql<{ hook_token: string }>`SELECT hook_token FROM broadcasts WHERE id = ${broadcast.id}`.execute(db);
    expect(after).toEqual([{ hook_token: '' }]);
    await migrateToLatest(db);
  });
});

/** A broadcast as versions before the hook-token-hash-only migration stored it, token and all. */
async function oldBroadcastRow(db: Db, botId: string, token: string): Promise<{ id: string }> {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO broadcasts (bot_id, name, message, hook_token, hook_token_sha256)
    VALUES (${botId}, 'old', ${toJson({ text: 'hi' })}, ${token}, ${tokenDigest(token)})
    RETURNING id`.execute(db);
  return rows[0]!;
}

describe('ensureDatabaseExists', () => {
  it('creates a missing database once, and leaves an existing one alone', async () => {
    const name = `${runDatabasePrefix()}_created_by_migrate`;
    try {
      expect(await ensureDatabaseExists(databaseUrl(name))).toBe(true);
      expect(await ensureDatabaseExists(databaseUrl(name))).toBe(false);
    } finally {
      await dropDatabase(name);
    }
  });
});

describe('schema constraints (SPEC §2)', () => {
  const database = useTestDatabase();
  let db: Db;
  let botId: string;
  let broadcastId: string;
  let runId: string;
  let contactId: string;

  beforeAll(async () => {
    db = database.current.db;
    ({ id: botId } = await db
      .insertInto('bots')
      .values({ name: 'bot', api_token_sha256: Buffer.alloc(32, 1) })
      .returning('id')
      .executeTakeFirstOrThrow());
    ({ id: broadcastId } = await db
      .insertInto('broadcasts')
      .values({
        bot_id: botId,
        name: 'b',
        message: toJson({ text: 'hi' }),
        hook_token_hint: 'ok-1',
        hook_token_sha256: Buffer.alloc(32, 2),
      })
      .returning('id')
      .executeTakeFirstOrThrow());
    ({ id: runId } = await db.insertInto('runs').values({ broadcast_id: broadcastId }).returning('id').executeTakeFirstOrThrow());
    ({ id: contactId } = await db
      .insertInto('contacts')
      .values({ bot_id: botId, bot_channel: 'TelegramChannel', user_id: '42' })
      .returning('id')
      .executeTakeFirstOrThrow());
  });

  async function violation(promise: Promise<unknown>): Promise<string | undefined> {
    try {
      await promise;
      return undefined;
    } catch (error) {
      return (error as { constraint?: string }).constraint;
    }
  }

  it('refuses a second delivery for the same run and contact', async () => {
    const delivery = { run_id: runId, contact_id: contactId, channel: 'TelegramChannel' as const };
    await db.insertInto('deliveries').values(delivery).execute();
    expect(await violation(db.insertInto('deliveries').values(delivery).execute())).toBe('deliveries_run_contact_key');
    // …and ON CONFLICT DO NOTHING, the form the dispatcher uses, silently keeps the first.
    const again = await db
      .insertInto('deliveries')
      .values(delivery)
      .onConflict((oc) => oc.columns(['run_id', 'contact_id']).doNothing())
      .executeTakeFirst();
    expect(again.numInsertedOrUpdatedRows).toBe(0n);
  });

  it('keeps contacts unique per bot, channel and user id', async () => {
    expect(await violation(db.insertInto('contacts').values({ bot_id: botId, bot_channel: 'TelegramChannel', user_id: '42' }).execute())).toBe(
      'contacts_bot_channel_user_key',
    );
    // The same user id on another channel is another contact.
    await db.insertInto('contacts').values({ bot_id: botId, bot_channel: 'SMSChannel', user_id: '42' }).execute();
  });

  it('keeps hook tokens, bot tokens and channel connections unique', async () => {
    expect(
      await violation(
        db
          .insertInto('broadcasts')
          .values({
            bot_id: botId,
            name: 'other',
            message: toJson({ text: 'x' }),
            hook_token_hint: 'ok-1',
            hook_token_sha256: Buffer.alloc(32, 2),
          })
          .execute(),
      ),
    ).toBe('broadcasts_hook_token_key');
    expect(
      await violation(
        db
          .insertInto('bots')
          .values({ name: 'dup', api_token_sha256: Buffer.alloc(32, 1) })
          .execute(),
      ),
    ).toBe('bots_api_token_key');
    const connection = { bot_id: botId, channel: 'CustomChannel' as const, provider: 'custom' };
    await db.insertInto('channel_connections').values(connection).execute();
    expect(await violation(db.insertInto('channel_connections').values(connection).execute())).toBe('channel_connections_bot_channel_key');
  });

  it('refuses unknown channels and statuses', async () => {
    expect(await violation(sql`INSERT INTO contacts (bot_id, bot_channel, user_id) VALUES (${botId}, 'EmailChannel', 'x')`.execute(db))).toBe(
      'contacts_bot_channel_check',
    );
    expect(await violation(sql`UPDATE runs SET status = 'done' WHERE id = ${runId}`.execute(db))).toBe('runs_status_check');
    expect(
      await violation(
        db
          .insertInto('triggers')
          .values({ broadcast_id: broadcastId, method: 'GET', request: toJson({}), status: 'lost' as never })
          .execute(),
      ),
    ).toBe('triggers_status_check');
  });

  it('applies the SPEC defaults to a new broadcast and trigger', async () => {
    const broadcast = await db.selectFrom('broadcasts').selectAll().where('id', '=', broadcastId).executeTakeFirstOrThrow();
    expect(broadcast).toMatchObject({
      enabled: true,
      allow_get: true,
      allow_post: true,
      direct_mode: true,
      require_valid_filter: true,
      delay_ms: 10_000,
      max_delay_ms: null,
      allowed_hosts: [],
      audience: { filters: [], join: [] },
    });
    const trigger = await db
      .insertInto('triggers')
      .values({ broadcast_id: broadcastId, method: 'POST', request: toJson({ mode: 'audience' }), caller_address: '::1' })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(trigger).toMatchObject({ status: 'pending', run_id: null, notes: [], caller_address: '::1' });
  });

  it('removes a bot with everything it owns', async () => {
    await db.deleteFrom('bots').where('id', '=', botId).execute();
    for (const table of ['contacts', 'broadcasts', 'runs', 'deliveries', 'triggers', 'channel_connections'] as const) {
      const { count } = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .executeTakeFirstOrThrow();
      expect([table, Number(count)]).toEqual([table, 0]);
    }
  });
});
