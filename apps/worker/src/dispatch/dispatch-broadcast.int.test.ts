import { sql } from 'kysely';
import { HOOK_FIELDS, MAX_CONTACT_VARIABLES, parseHookPayload, type TriggerRequest } from '@herald/core';
import { toJson, upsertContacts, type ContactUpsert, type Db } from '@herald/db';
import { JobProducer } from '@herald/queue';
import {
  contactUpsert,
  createBotRow,
  createBroadcastRow,
  createTriggerRow,
  GARBAGE_SEED,
  type Random,
  garbageObject,
  garbageVariant,
  seededRandom,
  testLogger,
  testBackend,
  testQueueBackend,
  useTestDatabase,
  useTestRedis,
  VALID_HOOK_BODIES,
  waitFor,
} from '@herald/testing';
import { dispatchBroadcast, type DispatchDeps } from './dispatch-broadcast';

/** The dispatch against real Postgres: coalescing, the three modes, races, resuming. */

const logger = testLogger('dispatch-test');

function request(body: unknown): TriggerRequest {
  const parsed = parseHookPayload(body, { requireValidFilter: true, maxTargets: 10_000 });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.request;
}

const contact = (user_id: string, variables: ContactUpsert['variables'] = {}, extra: Partial<ContactUpsert> = {}): ContactUpsert =>
  contactUpsert('TelegramChannel', user_id, { variables, ...extra });

/**
 * A database and a queue prefix of the block's own, and what a dispatch needs on them. The
 * producer closes before the Redis clean-up: jest runs afterAll hooks in declaration order.
 */
function useDispatchEnvironment() {
  let producer: JobProducer | undefined;
  afterAll(() => producer?.close());
  const database = useTestDatabase();
  const redis = useTestRedis();
  const environment = {
    get db(): Db {
      return database.current.db;
    },
    get producer(): JobProducer {
      producer ??= new JobProducer(testQueueBackend(database.current, redis.current));
      return producer;
    },
    deps: (overrides: Partial<DispatchDeps> = {}): DispatchDeps => ({
      db: environment.db,
      logger,
      producer: environment.producer,
      deliveryChunkSize: 2,
      dispatchStuckAfterMs: 60_000,
      dispatchStatementTimeoutMs: 60_000,
      dispatchBatchTriggers: 500,
      ...overrides,
    }),
  };
  return environment;
}

/**
 * PGlite (the embedded backend) is one session with no timer to cancel a statement: a
 * `statement_timeout` never fires, and one long statement holds every other connection, the
 * heartbeat's included. These two tests are about exactly that, so they run on the services.
 */
const onServicesOnly = testBackend() === 'services' ? it : it.skip;

describe('dispatchBroadcast', () => {
  const { deps } = useDispatchEnvironment();
  let db: Db;
  beforeAll(() => {
    db = deps().db;
  });

  async function setup(contacts: ContactUpsert[], audience?: unknown) {
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    if (audience)
      await db
        .updateTable('broadcasts')
        .set({ audience: toJson(audience) })
        .where('id', '=', broadcast.id)
        .execute();
    await upsertContacts(db, bot.id, contacts);
    return { bot, broadcast };
  }

  const trigger = (broadcastId: string, body: unknown) => createTriggerRow(db, broadcastId, { request: request(body) });

  async function deliveredTo(runId: string): Promise<string[]> {
    const rows = await db
      .selectFrom('deliveries')
      .innerJoin('contacts', 'contacts.id', 'deliveries.contact_id')
      .select('contacts.user_id')
      .where('deliveries.run_id', '=', runId)
      .orderBy('contacts.user_id')
      .execute();
    return rows.map((r) => r.user_id);
  }

  const variablesOf = async (botId: string, userId: string) =>
    (await db.selectFrom('contacts').select('variables').where('bot_id', '=', botId).where('user_id', '=', userId).executeTakeFirstOrThrow()).variables;

  it('puts every pending trigger into one run: one delivery per contact, the later variable value winning', async () => {
    const { bot, broadcast } = await setup([
      contact('1', { color: 'red', tier: 'gold' }),
      contact('2', { color: 'red' }),
      contact('3', { color: 'blue', tier: 'gold' }),
      contact('4', { color: 'green' }),
    ]);
    const first = await trigger(broadcast.id, {
      audience_filters: 'color',
      audience_criteria: 'Equals',
      audience_values: 'red',
      set_variables: 'promo',
      set_variables_values: 'A',
    });
    const second = await trigger(broadcast.id, {
      audience_filters: 'tier',
      audience_criteria: 'Equals',
      audience_values: 'GOLD',
      set_variables: 'promo',
      set_variables_values: 'B',
    });

    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: 2, targeted: 3, resumed: false });
    if (result.outcome !== 'dispatched') return;
    expect(await deliveredTo(result.runId)).toEqual(['1', '2', '3']);
    expect(await variablesOf(bot.id, '1')).toEqual({ color: 'red', tier: 'gold', promo: 'B' });
    expect(await variablesOf(bot.id, '2')).toEqual({ color: 'red', promo: 'A' });
    const triggers = await db.selectFrom('triggers').select(['id', 'status', 'run_id']).where('id', 'in', [first.id, second.id]).execute();
    expect(triggers.every((t) => t.status === 'dispatched' && t.run_id === result.runId)).toBe(true);
    const run = await db.selectFrom('runs').selectAll().where('id', '=', result.runId).executeTakeFirstOrThrow();
    expect(run).toMatchObject({ status: 'delivering', targeted: 3 });
  });

  it('targets the contacts that matched before the call changed the filtered variable', async () => {
    const { bot, broadcast } = await setup([contact('1', { color: 'red' }), contact('2', { color: 'blue' })]);
    await trigger(broadcast.id, {
      audience_filters: 'color',
      audience_criteria: 'Equals',
      audience_values: 'red',
      set_variables: 'color',
      set_variables_values: 'magenta',
    });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result.outcome === 'dispatched' && (await deliveredTo(result.runId))).toEqual(['1']);
    expect(await variablesOf(bot.id, '1')).toEqual({ color: 'magenta' });
  });

  it("uses the broadcast's configured audience when the call names none, and writes system fields as columns", async () => {
    const { bot, broadcast } = await setup([contact('1', { vip: true }), contact('2', {})], {
      filters: [{ field: 'vip', criteria: 'HasValue', value: null }],
      join: [],
    });
    await trigger(broadcast.id, { set_variables: 'first_name;visits', set_variables_values: 'Ada;3' });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result.outcome === 'dispatched' && (await deliveredTo(result.runId))).toEqual(['1']);
    const row = await db
      .selectFrom('contacts')
      .select(['first_name', 'variables'])
      .where('bot_id', '=', bot.id)
      .where('user_id', '=', '1')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ first_name: 'Ada', variables: { vip: true, visits: '3' } });
  });

  it('notes the filtered variables no contact has when an audience reaches no one, and only then', async () => {
    const { broadcast } = await setup([contact('1', { plan: 'gold' }), contact('2', { plan: 'silver' })]);
    const typo = await trigger(broadcast.id, {
      audience_filters: 'plann;first_name;region',
      audience_criteria: 'Equals;HasValue;Equals',
      audience_values: 'gold;;north',
      audience_join: 'OR;OR',
    });
    const nobodyMatches = await trigger(broadcast.id, { audience_filters: 'plan', audience_criteria: 'Equals', audience_values: 'bronze' });
    // A missing variable satisfies EmptyOrUnset and the negations: those filters are not blamed.
    const absenceAsked = await trigger(broadcast.id, {
      audience_filters: 'opted_out;region;plann',
      audience_criteria: 'EmptyOrUnset;Different;Equals',
      audience_values: ';north;gold',
    });
    const matches = await trigger(broadcast.id, { audience_filters: 'plann', audience_criteria: 'EmptyOrUnset', audience_values: '' });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: 4, targeted: 2 });
    const notes = await db.selectFrom('triggers').select(['id', 'notes']).where('broadcast_id', '=', broadcast.id).execute();
    const notesOf = (id: string) => notes.find((t) => t.id === id)?.notes;
    // first_name is a column, not a variable: it is never named.
    expect(notesOf(typo.id)).toEqual(['the audience reached no one: no contact of this bot has the variables "plann", "region" it filters on']);
    // "plan" exists: reaching no one is the filter's answer, not a typo.
    expect(notesOf(nobodyMatches.id)).toEqual([]);
    expect(notesOf(absenceAsked.id)).toEqual(['the audience reached no one: no contact of this bot has the variable "plann" it filters on']);
    // Reached someone: no look-up, no note, although no contact has "plann".
    expect(notesOf(matches.id)).toEqual([]);
  });

  it('set_conversation: finds by user_id, else by phone, creates when it can, and notes why when it cannot', async () => {
    const { bot, broadcast } = await setup([
      contact('42'),
      contact('+393331111111', {}, { bot_channel: 'WhatsAppChannel', user_phone_number: '+393331111111' }),
    ]);
    const byId = await trigger(broadcast.id, { set_conversation: true, user_id: '42', set_variables: 'note', set_variables_values: 'found' });
    const byPhone = await trigger(broadcast.id, { set_conversation: true, set_variables: 'user_phone_number', set_variables_values: '+39 333 111 1111' });
    const created = await trigger(broadcast.id, {
      set_conversation: true,
      set_variables: 'user_id;bot_channel;first_name',
      set_variables_values: '7;telegram;Linus',
    });
    const impossible = await trigger(broadcast.id, { set_conversation: true, set_variables: 'user_id', set_variables_values: 'nobody' });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: 4, targeted: 3 });
    if (result.outcome !== 'dispatched') return;
    expect(await deliveredTo(result.runId)).toEqual(['+393331111111', '42', '7']);
    expect(await variablesOf(bot.id, '42')).toEqual({ note: 'found' });
    const linus = await db
      .selectFrom('contacts')
      .select(['first_name', 'bot_channel'])
      .where('bot_id', '=', bot.id)
      .where('user_id', '=', '7')
      .executeTakeFirstOrThrow();
    expect(linus).toEqual({ first_name: 'Linus', bot_channel: 'TelegramChannel' });
    const notes = await db.selectFrom('triggers').select(['id', 'notes']).where('id', 'in', [byId.id, byPhone.id, created.id, impossible.id]).execute();
    expect(notes.find((t) => t.id === impossible.id)?.notes).toEqual(['contact not created: bot_channel missing']);
    expect(notes.filter((t) => t.id !== impossible.id).every((t) => t.notes.length === 0)).toBe(true);
  });

  it('targets: creates missing contacts, updates existing ones, one delivery each', async () => {
    const { bot, broadcast } = await setup([contact('1', { a: 1 })]);
    await trigger(broadcast.id, {
      targets: [
        { user_id: '1', bot_channel: 'telegram', variables: { b: 2, first_name: 'Ada' } },
        { user_id: '393331111111', bot_channel: 'WhatsAppChannel', set_variables: 'order', set_variables_values: 'A-17' },
      ],
      set_variables: 'campaign',
      set_variables_values: 'nov',
    });
    await trigger(broadcast.id, { targets: [{ user_id: '1', bot_channel: 'telegram' }] });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', targeted: 2 });
    if (result.outcome !== 'dispatched') return;
    expect(await deliveredTo(result.runId)).toEqual(['1', '393331111111']);
    expect(await variablesOf(bot.id, '1')).toEqual({ a: 1, b: 2, campaign: 'nov' });
    const created = await db
      .selectFrom('contacts')
      .select(['user_phone_number', 'variables'])
      .where('bot_id', '=', bot.id)
      .where('user_id', '=', '393331111111')
      .executeTakeFirstOrThrow();
    expect(created).toEqual({ user_phone_number: '393331111111', variables: { order: 'A-17', campaign: 'nov' } });
  });

  it('applies per-user calls in one batch: the last value of each variable wins, a later filter sees the earlier writes', async () => {
    const { bot, broadcast } = await setup([contact('1'), contact('2')]);
    for (const color of ['red', 'green', 'blue']) {
      await trigger(broadcast.id, { targets: [{ user_id: '1', bot_channel: 'telegram', variables: { color } }] });
    }
    await trigger(broadcast.id, { targets: [{ user_id: '2', bot_channel: 'telegram', variables: { color: 'red', size: 'L' } }] });
    // Filters on what the calls before it wrote: reaches 1 (blue), not 2 (red).
    await trigger(broadcast.id, {
      audience_filters: 'color',
      audience_criteria: 'Equals',
      audience_values: 'blue',
      set_variables: 'seen',
      set_variables_values: 'yes',
    });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: 5, failed: 0, targeted: 2 });
    expect(await variablesOf(bot.id, '1')).toEqual({ color: 'blue', seen: 'yes' });
    expect(await variablesOf(bot.id, '2')).toEqual({ color: 'red', size: 'L' });
    const statuses = await db.selectFrom('triggers').select('status').where('broadcast_id', '=', broadcast.id).execute();
    expect(statuses.every((t) => t.status === 'dispatched')).toBe(true);
  });

  it('cuts batches at 10,000 targets and applies the rest of the page after', async () => {
    const { broadcast } = await setup([]);
    // Two calls of 5,001 targets: one page of two triggers, two batches.
    const big = (from: number) => ({ targets: Array.from({ length: 5_001 }, (_, i) => ({ user_id: `b${from + i}`, bot_channel: 'telegram' })) });
    for (const from of [0, 5_001]) await trigger(broadcast.id, big(from));
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: 2, failed: 0, targeted: 10_002 });
  });

  it('makes no run when nothing is pending', async () => {
    const { broadcast } = await setup([]);
    expect(await dispatchBroadcast(deps(), broadcast.id)).toEqual({ outcome: 'nothing_pending' });
    expect(await db.selectFrom('runs').select('id').where('broadcast_id', '=', broadcast.id).execute()).toEqual([]);
  });

  it('gives two workers racing on one broadcast one run and no duplicate rows', async () => {
    const { broadcast } = await setup(Array.from({ length: 200 }, (_, i) => contact(String(i), { n: i })));
    for (let i = 0; i < 5; i++) await trigger(broadcast.id, {});
    const results = await Promise.all([dispatchBroadcast(deps(), broadcast.id), dispatchBroadcast(deps(), broadcast.id)]);
    const runs = await db.selectFrom('runs').select(['id', 'targeted', 'status']).where('broadcast_id', '=', broadcast.id).execute();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ targeted: 200, status: 'delivering' });
    expect(results.map((r) => r.outcome).sort()).toEqual(expect.arrayContaining(['dispatched']));
    // The other one found nothing, or found the run moved on; it never claims a cancel.
    expect(results.filter((r) => !['dispatched', 'done_elsewhere', 'nothing_pending'].includes(r.outcome))).toEqual([]);
    const { n } = await db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('run_id', '=', runs[0]!.id)
      .executeTakeFirstOrThrow();
    expect(Number(n)).toBe(200);
  });

  it('dispatches broadcasts of one bot that write the same contacts at once, without deadlocking', async () => {
    // Each run writes the same 300 contacts in three statements, in opposite orders: batches
    // that overlapped deadlocked (pnpm test:soak); a bot's batches now take turns.
    const ids = Array.from({ length: 300 }, (_, i) => `d${i}`);
    const { bot, broadcast } = await setup(ids.map((id) => contact(id)));
    const broadcasts = [broadcast, ...(await Promise.all([1, 2, 3].map(() => createBroadcastRow(db, bot.id))))];
    for (const [n, b] of broadcasts.entries()) {
      const targets = (order: string[]) => ({ targets: order.map((user_id) => ({ user_id, bot_channel: 'telegram', variables: { last: `b${n}` } })) });
      await trigger(b.id, targets(n % 2 ? [...ids].reverse() : ids));
      await trigger(b.id, { set_variables: 'seen', set_variables_values: `b${n}` });
      await trigger(b.id, targets(n % 2 ? ids : [...ids].reverse()));
    }
    const results = await Promise.all(broadcasts.map((b) => dispatchBroadcast(deps(), b.id)));
    expect(results).toEqual(broadcasts.map(() => expect.objectContaining({ outcome: 'dispatched', triggers: 3, failed: 0, targeted: 300 })));
  });

  it('resumes a run a crashed dispatch left half done, without duplicates', async () => {
    const { broadcast } = await setup([contact('1', { g: 'x' }), contact('2', { g: 'y' }), contact('3', { g: 'x' })]);
    const done = await trigger(broadcast.id, { audience_filters: 'g', audience_criteria: 'Equals', audience_values: 'x' });
    const left = await trigger(broadcast.id, { audience_filters: 'g', audience_criteria: 'Equals', audience_values: 'y' });
    // The state a crash leaves: a dispatching run, its first trigger applied, the second not.
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, last_trigger_seq: left.seq }).returning('id').executeTakeFirstOrThrow();
    const ones = await db
      .selectFrom('contacts')
      .select(['id', 'bot_channel'])
      .where('user_id', 'in', ['1', '3'])
      .where('bot_id', '=', broadcast.bot_id)
      .execute();
    await db
      .insertInto('deliveries')
      .values(ones.map((c) => ({ run_id: run.id, contact_id: c.id, channel: c.bot_channel })))
      .execute();
    await db.updateTable('triggers').set({ status: 'dispatched', run_id: run.id }).where('id', '=', done.id).execute();
    const later = await trigger(broadcast.id, {}); // accepted after the crash: not in this run

    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', runId: run.id, resumed: true, triggers: 1, targeted: 3 });
    expect(await deliveredTo(run.id)).toEqual(['1', '2', '3']);
    const next = await dispatchBroadcast(deps(), broadcast.id);
    expect(next).toMatchObject({ outcome: 'dispatched', resumed: false, triggers: 1, targeted: 3 });
    const { run_id } = await db.selectFrom('triggers').select('run_id').where('id', '=', later.id).executeTakeFirstOrThrow();
    expect(next.outcome === 'dispatched' && run_id).toBe(next.outcome === 'dispatched' ? next.runId : null);
  });

  it('skips a trigger cancelled after the claim: nothing of it is applied', async () => {
    const { bot, broadcast } = await setup([contact('1')]);
    const t = await trigger(broadcast.id, { set_variables: 'x', set_variables_values: '1' });
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, last_trigger_seq: t.seq }).returning('id').executeTakeFirstOrThrow();
    // Cancelled after the claim, before it was applied: the dispatcher must not write anything.
    await db.updateTable('triggers').set({ status: 'cancelled' }).where('id', '=', t.id).execute();
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: 0, targeted: 0 });
    expect(await deliveredTo(run.id)).toEqual([]);
    expect(await variablesOf(bot.id, '1')).toEqual({});
  });
  describe('a trigger the database refuses for good', () => {
    /** A test-only database trigger on contacts, removed after the test: `body` is PL/pgSQL run before each write. */
    async function withContactsTrigger<T>(body: string, run: () => Promise<T>): Promise<T> {
      await sql.raw(`CREATE FUNCTION test_contacts_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} RETURN NEW; END $$`).execute(db);
      await sql`CREATE TRIGGER test_contacts_guard BEFORE INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION test_contacts_guard()`.execute(db);
      try {
        return await run();
      } finally {
        await sql`DROP TRIGGER test_contacts_guard ON contacts`.execute(db);
        await sql`DROP FUNCTION test_contacts_guard()`.execute(db);
      }
    }

    async function triggerRows(broadcastId: string) {
      return db.selectFrom('triggers').select(['status', 'notes', 'run_id']).where('broadcast_id', '=', broadcastId).orderBy('seq').execute();
    }

    it('is marked failed with its error; the others are applied, the run delivers, a later call gets its own run', async () => {
      const { broadcast } = await setup([contact('a'), contact('b')]);
      await trigger(broadcast.id, { targets: [{ user_id: 'a', bot_channel: 'telegram' }] });
      await trigger(broadcast.id, { targets: [{ user_id: 'poison', bot_channel: 'telegram' }] });
      await trigger(broadcast.id, { targets: [{ user_id: 'b', bot_channel: 'telegram' }] });
      const result = await withContactsTrigger(
        `IF NEW.user_id = 'poison' THEN RAISE EXCEPTION 'poison contact refused' USING ERRCODE = 'check_violation'; END IF;`,
        () => dispatchBroadcast(deps(), broadcast.id),
      );
      expect(result).toMatchObject({ outcome: 'dispatched', triggers: 2, failed: 1, targeted: 2 });
      if (result.outcome !== 'dispatched') return;
      expect(await deliveredTo(result.runId)).toEqual(['a', 'b']);
      const rows = await triggerRows(broadcast.id);
      expect(rows.map((r) => r.status)).toEqual(['dispatched', 'failed', 'dispatched']);
      expect(rows[1]!.notes).toEqual([expect.stringMatching(/^not applied: the database refused it: poison contact refused \(SQLSTATE 23514\)$/)]);
      const run = await db.selectFrom('runs').select('status').where('id', '=', result.runId).executeTakeFirstOrThrow();
      expect(run.status).toBe('delivering');

      // Nothing waits behind it: the next call makes a run of its own.
      await trigger(broadcast.id, { targets: [{ user_id: 'a', bot_channel: 'telegram' }] });
      const next = await dispatchBroadcast(deps(), broadcast.id);
      expect(next).toMatchObject({ outcome: 'dispatched', triggers: 1, failed: 0, targeted: 1 });
      expect(next.outcome === 'dispatched' && next.runId).not.toBe(result.runId);
    });

    it('is marked failed when it is alone in its run, and when it is one of many (found by halving the batch)', async () => {
      const guard = `IF NEW.user_id = 'poison' THEN RAISE EXCEPTION 'poison contact refused' USING ERRCODE = 'check_violation'; END IF;`;
      const { broadcast } = await setup([]);
      await trigger(broadcast.id, { targets: [{ user_id: 'poison', bot_channel: 'telegram' }] });
      const alone = await withContactsTrigger(guard, () => dispatchBroadcast(deps(), broadcast.id));
      expect(alone).toMatchObject({ outcome: 'dispatched', triggers: 0, failed: 1, targeted: 0 });
      expect((await triggerRows(broadcast.id)).map((r) => r.status)).toEqual(['failed']);

      const users = Array.from({ length: 11 }, (_, i) => (i === 7 ? 'poison' : `m${i}`));
      for (const user of users) await trigger(broadcast.id, { targets: [{ user_id: user, bot_channel: 'telegram' }] });
      const many = await withContactsTrigger(guard, () => dispatchBroadcast(deps(), broadcast.id));
      expect(many).toMatchObject({ outcome: 'dispatched', triggers: 10, failed: 1, targeted: 10 });
      const rows = await triggerRows(broadcast.id);
      expect(rows.slice(1).map((r) => r.status)).toEqual(users.map((u) => (u === 'poison' ? 'failed' : 'dispatched')));
    });

    it("fails a call that would take a contact past its variables bound, and keeps the contact's variables as they were", async () => {
      const full = Object.fromEntries(Array.from({ length: MAX_CONTACT_VARIABLES - 2 }, (_, i) => [`v${i}`, i]));
      const { bot, broadcast } = await setup([contact('a', full), contact('b')]);
      const three = { set_variables: 'x;y;z', set_variables_values: '1;2;3' };
      await trigger(broadcast.id, { targets: [{ user_id: 'a', bot_channel: 'telegram' }], ...three });
      await trigger(broadcast.id, { targets: [{ user_id: 'b', bot_channel: 'telegram' }], ...three });
      const result = await dispatchBroadcast(deps(), broadcast.id);
      expect(result).toMatchObject({ outcome: 'dispatched', triggers: 1, failed: 1, targeted: 1 });
      const rows = await triggerRows(broadcast.id);
      expect(rows.map((r) => r.status)).toEqual(['failed', 'dispatched']);
      expect(rows[0]!.notes).toEqual([expect.stringContaining('contacts_variables_bounded')]);
      expect(await variablesOf(bot.id, 'a')).toEqual(full);
      expect(await variablesOf(bot.id, 'b')).toEqual({ x: '1', y: '2', z: '3' });
    });

    onServicesOnly('fails a trigger whose statement outlasts the statement timeout', async () => {
      const { broadcast } = await setup([contact('slow'), contact('b')]);
      await trigger(broadcast.id, { targets: [{ user_id: 'slow', bot_channel: 'telegram' }] });
      await trigger(broadcast.id, { targets: [{ user_id: 'b', bot_channel: 'telegram' }] });
      const result = await withContactsTrigger(`IF NEW.user_id = 'slow' THEN PERFORM pg_sleep(2); END IF;`, () =>
        dispatchBroadcast(deps({ dispatchStatementTimeoutMs: 200 }), broadcast.id),
      );
      expect(result).toMatchObject({ outcome: 'dispatched', triggers: 1, failed: 1, targeted: 1 });
      const rows = await triggerRows(broadcast.id);
      expect(rows[0]).toMatchObject({ status: 'failed', notes: [expect.stringContaining('statement timeout (SQLSTATE 57014)')] });
    });
  });

  onServicesOnly('keeps a live dispatch from looking stuck while one statement runs long (heartbeat)', async () => {
    const { broadcastsWithStuckDispatch } = await import('@herald/db');
    const { broadcast } = await setup([contact('1'), contact('2')]);
    await trigger(broadcast.id, {});
    const [locked] = await db.selectFrom('contacts').select('id').where('bot_id', '=', broadcast.bot_id).limit(1).execute();
    // Another transaction holds a contact row: the dispatch's INSERT waits on it (its foreign
    // key check), standing in for an audience statement longer than the stuck deadline.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let lockTaken!: () => void;
    const lockIsTaken = new Promise<void>((resolve) => (lockTaken = resolve));
    const blocker = db.transaction().execute(async (trx) => {
      await trx.selectFrom('contacts').select('id').where('id', '=', locked!.id).forUpdate().execute();
      lockTaken();
      await released;
    });
    await lockIsTaken;
    const dispatched = dispatchBroadcast(deps({ dispatchStuckAfterMs: 400 }), broadcast.id);
    try {
      const run = await waitFor(() => db.selectFrom('runs').select(['id', 'updated_at']).where('broadcast_id', '=', broadcast.id).executeTakeFirst(), {
        what: 'the run',
      });
      // Blocked for well past the 400 ms deadline, the run keeps being touched and is never "stuck".
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(await broadcastsWithStuckDispatch(db, 400)).not.toContain(broadcast.id);
      }
      const { updated_at } = await db.selectFrom('runs').select('updated_at').where('id', '=', run.id).executeTakeFirstOrThrow();
      expect(updated_at.getTime()).toBeGreaterThan(run.updated_at.getTime());
    } finally {
      release();
      await blocker;
    }
    expect(await dispatched).toMatchObject({ outcome: 'dispatched', targeted: 2 });
    // Once the dispatch is over the heartbeat stops (beats every 100 ms: none in 300 ms).
    const touchedAt = async () =>
      (await db.selectFrom('runs').select('updated_at').where('broadcast_id', '=', broadcast.id).executeTakeFirstOrThrow()).updated_at.getTime();
    await new Promise((resolve) => setTimeout(resolve, 150)); // a beat already in flight lands
    const after = await touchedAt();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await touchedAt()).toBe(after);
  });
});

describe('dispatchBroadcast after a cancel', () => {
  const { deps } = useDispatchEnvironment();

  it('applies nothing of a run cancelled mid-dispatch and leaves no run to resume', async () => {
    const { db } = deps();
    const { cancelBroadcast } = await import('@herald/db');
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(db, bot.id, [contact('1')]);
    const first = await createTriggerRow(db, broadcast.id, { request: request({ set_variables: 'x', set_variables_values: '1' }) });
    // A dispatch claimed the trigger, then the operator cancelled before it was applied.
    const run = await db.insertInto('runs').values({ broadcast_id: broadcast.id, last_trigger_seq: first.seq }).returning('id').executeTakeFirstOrThrow();
    expect(await cancelBroadcast(db, broadcast.id)).toEqual({ triggers: 1, runs: [run.id], skipped: 0 });

    expect(await dispatchBroadcast(deps(), broadcast.id)).toEqual({ outcome: 'nothing_pending' });
    expect(await db.selectFrom('deliveries').select('id').where('run_id', '=', run.id).execute()).toEqual([]);
    const { status } = await db.selectFrom('runs').select('status').where('id', '=', run.id).executeTakeFirstOrThrow();
    expect(status).toBe('cancelled');
  });
});

describe('dispatchBroadcast hands the deliveries to the channel queues', () => {
  const environment = useDispatchEnvironment();
  const { deps } = environment;

  /** A producer that fails like a crash: before the add of page `failAt`, or right after it. */
  function crashingProducer(failAt: number, when: 'before-add' | 'after-add'): DispatchDeps['producer'] {
    let calls = 0;
    return {
      addBulk: async (name, payloads) => {
        calls++;
        if (calls === failAt && when === 'before-add') throw new Error('crash before the add');
        await environment.producer.addBulk(name, payloads);
        if (calls === failAt && when === 'after-add') throw new Error('crash after the add');
      },
    };
  }

  /** A bot with `telegram` Telegram contacts, `whatsapp` WhatsApp ones and one Custom one, and a pending call for all. */
  async function broadcastOver(counts: { telegram: number; whatsapp: number }) {
    const db = environment.db;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    // Interleaved channels, so a page holds several channels and their id ranges overlap.
    const contacts: ContactUpsert[] = [];
    for (let i = 0; i < Math.max(counts.telegram, counts.whatsapp); i++) {
      if (i < counts.telegram) contacts.push(contact(`t${i}`));
      if (i < counts.whatsapp) contacts.push(contact(`3930000${i}`, {}, { bot_channel: 'WhatsAppChannel' }));
    }
    contacts.push(contact('c0', {}, { bot_channel: 'CustomChannel' }));
    await upsertContacts(db, bot.id, contacts);
    await createTriggerRow(db, broadcast.id, { request: request({}) });
    return broadcast;
  }

  /** Every chunk job of the run, from every delivery queue. */
  async function chunkJobs(runId: string) {
    const all = await Promise.all(
      ['deliver-telegram', 'deliver-whatsapp', 'deliver-custom', 'deliver-sms'].map(async (queue) =>
        (await environment.producer.queue(queue as 'deliver-sms').getJobs(['waiting'])).map((job) => ({ queue, ...job.data })),
      ),
    );
    return all.flat().filter((job) => job.runId === runId);
  }

  /**
   * How many chunks of its own channel's queue cover each delivery of the run. Exactly one for
   * every delivery is the property the hand-off promises.
   */
  async function coverage(runId: string) {
    const db = environment.db;
    const jobs = await chunkJobs(runId);
    const deliveries = await db.selectFrom('deliveries').select(['id', 'channel']).where('run_id', '=', runId).execute();
    const queueOf = { TelegramChannel: 'deliver-telegram', WhatsAppChannel: 'deliver-whatsapp', CustomChannel: 'deliver-custom' } as Record<string, string>;
    const covering = deliveries.map(
      (d) =>
        jobs.filter(
          (job) => job.channel === d.channel && job.queue === queueOf[d.channel] && BigInt(job.firstId) <= BigInt(d.id) && BigInt(d.id) <= BigInt(job.lastId),
        ).length,
    );
    return { jobs, deliveries: deliveries.length, covering };
  }

  const runOf = (broadcastId: string) => environment.db.selectFrom('runs').selectAll().where('broadcast_id', '=', broadcastId).executeTakeFirstOrThrow();

  it('covers every delivery with exactly one chunk of its channel, none larger than the chunk size', async () => {
    const db = environment.db;
    const broadcast = await broadcastOver({ telegram: 7, whatsapp: 5 });
    const result = await dispatchBroadcast(deps(), broadcast.id);
    // Telegram 7 → 4 chunks, WhatsApp 5 → 3, Custom 1 → 1 (13 deliveries in one page).
    expect(result).toMatchObject({ outcome: 'dispatched', targeted: 13, chunks: 8 });
    const run = await runOf(broadcast.id);
    const { jobs, deliveries, covering } = await coverage(run.id);
    expect(deliveries).toBe(13);
    expect(covering).toEqual(Array(13).fill(1));
    expect(jobs).toHaveLength(8);
    for (const job of jobs) {
      const { n } = await db
        .selectFrom('deliveries')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('run_id', '=', run.id)
        .where('channel', '=', job.channel)
        .where('id', '>=', job.firstId)
        .where('id', '<=', job.lastId)
        .executeTakeFirstOrThrow();
      expect(Number(n)).toBeGreaterThan(0);
      expect(Number(n)).toBeLessThanOrEqual(2);
    }
    const maxId = (
      await db
        .selectFrom('deliveries')
        .select((eb) => eb.fn.max('id').as('max'))
        .where('run_id', '=', run.id)
        .executeTakeFirstOrThrow()
    ).max;
    expect(run).toMatchObject({ status: 'delivering', targeted: 13, handed_off: 13, handed_off_through: String(maxId) });
  });

  it.each(['before-add', 'after-add'] as const)('resumes a hand-off that crashed %s of its second page: still exactly one chunk per delivery', async (when) => {
    const broadcast = await broadcastOver({ telegram: 30, whatsapp: 14 }); // 45 deliveries: pages of 20
    await expect(dispatchBroadcast(deps({ producer: crashingProducer(2, when), deliveryChunkSize: 1 }), broadcast.id)).rejects.toThrow(/crash/);
    const crashed = await runOf(broadcast.id);
    expect(crashed).toMatchObject({ status: 'dispatching', handed_off: 20 }); // the first page only

    const result = await dispatchBroadcast(deps({ deliveryChunkSize: 1 }), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', resumed: true, triggers: 0, targeted: 45 });
    const { jobs, covering } = await coverage(crashed.id);
    expect(covering).toEqual(Array(45).fill(1));
    expect(jobs).toHaveLength(45);
    expect(await runOf(broadcast.id)).toMatchObject({ status: 'delivering', handed_off: 45 });
  });

  it('reports a run another worker finished during its hand-off as done elsewhere, not cancelled', async () => {
    const db = environment.db;
    const { finishDispatch } = await import('@herald/db');
    const broadcast = await broadcastOver({ telegram: 30, whatsapp: 14 });
    const overtakenProducer: DispatchDeps['producer'] = {
      addBulk: async (name, payloads) => {
        await environment.producer.addBulk(name, payloads);
        // Another worker, resuming the same run, finishes it while this one is on page 1.
        const run = await runOf(broadcast.id);
        await finishDispatch(db, run.id);
      },
    };
    const result = await dispatchBroadcast(deps({ producer: overtakenProducer, deliveryChunkSize: 1 }), broadcast.id);
    expect(result).toMatchObject({ outcome: 'done_elsewhere' });
    expect(await runOf(broadcast.id)).toMatchObject({ status: 'delivering', targeted: 45 });
  });

  it('stops handing off at a cancel: no chunk after it, every delivery skipped', async () => {
    const db = environment.db;
    const { cancelBroadcast } = await import('@herald/db');
    const broadcast = await broadcastOver({ telegram: 30, whatsapp: 14 });
    const cancellingProducer: DispatchDeps['producer'] = {
      addBulk: async (name, payloads) => {
        await environment.producer.addBulk(name, payloads);
        await cancelBroadcast(db, broadcast.id); // the operator cancels during the first page
      },
    };
    const result = await dispatchBroadcast(deps({ producer: cancellingProducer, deliveryChunkSize: 1 }), broadcast.id);
    expect(result).toMatchObject({ outcome: 'cancelled' });
    const run = await runOf(broadcast.id);
    expect(run).toMatchObject({ status: 'cancelled', handed_off: 0, skipped: 45 });
    expect((await chunkJobs(run.id)).length).toBe(20); // the page in flight at the cancel, no more
    const statuses = await db.selectFrom('deliveries').select('status').distinct().where('run_id', '=', run.id).execute();
    expect(statuses).toEqual([{ status: 'skipped' }]);
  });
});

describe('dispatchBroadcast over whatever the hook accepted', () => {
  const { deps } = useDispatchEnvironment();
  // A trigger that makes every dispatch of its broadcast fail would hold back every later call.
  it(`applies every call the parser accepts from random input, none failing the run (seed ${GARBAGE_SEED})`, async () => {
    const random = seededRandom(GARBAGE_SEED);
    const { db } = deps();
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(
      db,
      bot.id,
      Array.from({ length: 20 }, (_, i) => contact(`c${i}`, { color: i % 2 ? 'red' : 'blue', age: 20 + i })),
    );
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const body = random.chance(0.8) ? garbageVariant(random, random.pick(VALID_HOOK_BODIES), HOOK_FIELDS) : garbageObject(random, HOOK_FIELDS);
      const parsed = parseHookPayload(body, { requireValidFilter: random.chance(0.7), maxTargets: 100 });
      if (!parsed.ok) continue;
      await createTriggerRow(db, broadcast.id, { request: parsed.request });
      accepted++;
    }
    expect(accepted).toBeGreaterThan(30);
    const result = await dispatchBroadcast(deps(), broadcast.id);
    expect(result).toMatchObject({ outcome: 'dispatched', triggers: accepted });
  });
});

/**
 * The batched dispatch against applying the same triggers one by one (a batch of one), on random
 * mixes of the three modes over a few contacts, user ids, phones and variables, so that triggers
 * of a batch overlap: later ones writing what earlier ones wrote, filtering on it, looking up
 * contacts earlier ones created. Contacts, deliveries and trigger outcomes must be identical.
 */
describe('dispatchBroadcast in batches, against one trigger at a time', () => {
  const { deps } = useDispatchEnvironment();
  const seed = GARBAGE_SEED;
  const USERS = ['u1', 'u2', 'u3', 'u4'];
  const PHONES = ['+393330000001', '+393330000002', '+393330000003'];
  const NAMES = ['a', 'b', 'first_name'];
  const VALUES = ['x', 'y', 'z'];

  function randomBody(random: Random): Record<string, unknown> {
    const assignments = () => {
      const names = [...new Set(Array.from({ length: 1 + random.int(2) }, () => random.pick(NAMES)))];
      return { set_variables: names.join(';'), set_variables_values: names.map(() => random.pick(VALUES)).join(';') };
    };
    switch (random.int(3)) {
      case 0: {
        const targets = Array.from({ length: 1 + random.int(2) }, () => ({
          user_id: random.pick(USERS),
          bot_channel: random.chance(0.8) ? 'telegram' : 'messenger',
          ...(random.chance(0.4) ? { user_phone_number: random.pick(PHONES) } : {}),
          variables: { [random.pick(NAMES)]: random.pick(VALUES) },
        }));
        return { targets, ...(random.chance(0.3) ? assignments() : {}) };
      }
      case 1: {
        const identity: [string, string][] = [];
        if (random.chance(0.7)) identity.push(['user_id', random.pick(USERS)]);
        if (identity.length === 0 || random.chance(0.4)) identity.push(['user_phone_number', random.pick(PHONES)]);
        if (random.chance(0.6)) identity.push(['bot_channel', random.pick(['telegram', 'messenger'])]);
        const more = assignments();
        return {
          set_conversation: true,
          set_variables: [...identity.map(([n]) => n), more.set_variables].join(';'),
          set_variables_values: [...identity.map(([, v]) => v), more.set_variables_values].join(';'),
        };
      }
      default: {
        const writes = random.chance(0.5) ? assignments() : {};
        if (random.chance(0.4)) return writes; // the configured audience
        return { audience_filters: 'a', audience_criteria: random.pick(['Equals', 'HasValue']), audience_values: random.pick(['x', 'y']), ...writes };
      }
    }
  }

  /** A bot with the given contacts and a broadcast holding `bodies` as pending triggers, dispatched with `batch`. */
  async function dispatchedState(contacts: ContactUpsert[], bodies: Record<string, unknown>[], batch: number) {
    const db = deps().db;
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    await upsertContacts(db, bot.id, contacts);
    for (const body of bodies) await createTriggerRow(db, broadcast.id, { request: request(body) });
    const result = await dispatchBroadcast(deps({ dispatchBatchTriggers: batch }), broadcast.id);
    const state = await db
      .selectFrom('contacts')
      .select(['bot_channel', 'user_id', 'user_phone_number', 'first_name', 'variables'])
      .where('bot_id', '=', bot.id)
      .orderBy('bot_channel')
      .orderBy('user_id')
      .execute();
    const delivered =
      result.outcome === 'dispatched'
        ? await db
            .selectFrom('deliveries')
            .innerJoin('contacts', 'contacts.id', 'deliveries.contact_id')
            .select(['contacts.bot_channel', 'contacts.user_id'])
            .where('deliveries.run_id', '=', result.runId)
            .orderBy('contacts.bot_channel')
            .orderBy('contacts.user_id')
            .execute()
        : [];
    const triggers = await db.selectFrom('triggers').select(['status', 'notes']).where('broadcast_id', '=', broadcast.id).orderBy('seq').execute();
    return { contacts: state, delivered, triggers };
  }

  it(`gives the same contacts, deliveries and trigger outcomes on random mixes (seed ${seed})`, async () => {
    const random = seededRandom(seed);
    for (let round = 0; round < 40; round++) {
      const contacts = USERS.filter(() => random.chance(0.5)).map((user) =>
        contact(user, { a: random.pick(VALUES) }, random.chance(0.5) ? { user_phone_number: random.pick(PHONES) } : {}),
      );
      const bodies = Array.from({ length: 14 }, () => randomBody(random));
      const batched = await dispatchedState(contacts, bodies, 500);
      const oneByOne = await dispatchedState(contacts, bodies, 1);
      expect({ round, ...batched }).toEqual({ round, ...oneByOne });
    }
  });
});
