import { sql } from 'kysely';
import { CRITERIA, audienceMatches, type Audience, type AudienceFilter, type ContactForAudience, type Join, type VariableValue } from '@herald/core';
import { createBotRow, seededRandom, useTestDatabase } from '@herald/testing';
import { audienceCondition } from './audience-sql';
import { upsertContacts, type ContactUpsert } from './queries/contacts.queries';

/**
 * Differential test: for thousands of random contacts and hundreds of random audiences, the
 * contacts the SQL selects are exactly those the pure evaluator of @herald/core accepts.
 * Seeded, so a failure names the seed and audience that reproduce it.
 */

const SEED = Number(process.env['AUDIENCE_SEED'] ?? 20261126);
const CONTACTS = 3_000;
const AUDIENCES = 400;

const seeded = seededRandom(SEED);
const random = seeded.next;
const pick = seeded.pick;
const chance = seeded.chance;

/** Texts chosen to hit every rule: case, unicode, quotes and SQL metacharacters, numbers that
 *  are text, dates valid and not, empty, prefixes of each other. */
const TEXTS = [
  'red',
  'Red',
  'RED',
  'redish',
  'dark red',
  'blue',
  '',
  ' ',
  'é',
  'É',
  'café',
  'CAFÉ',
  '漢字',
  '😀',
  'a😀b',
  "O'Brien",
  'say "hi"',
  '%',
  '_',
  '50%_off',
  'back\\slash',
  'semi;colon',
  "'); DROP TABLE contacts; --",
  '10',
  '9',
  '010',
  '-3.5',
  '+7',
  '2.50',
  '1e3',
  '12345678901234567',
  '0',
  '-0',
  '2024-01-01',
  '2024-01-01T10:00',
  '2024-06-01T10:00:00Z',
  '2024-06-01T12:00:00+02:00',
  '2024-02-30',
  '2023-12-31T23:59:59.999Z',
  '2024-1-1',
  'true',
  'false',
  'null',
];
const VARIABLE_VALUES: VariableValue[] = [...TEXTS, 10, 9, 2.5, -1, 0, 123456, true, false, null, { a: 1 }, [1, 2], []];
const VARIABLES = ['color', 'age', 'joined', 'note', 'tier', 'score'];
const FIELDS = [...VARIABLES, 'missing_var', 'first_name', 'last_name', 'locale', 'user_name', 'user_id', 'user_phone_number', 'bot_channel'];
const LENGTHS = ['0', '1', '2', '3', '5', '10'];

function randomContact(i: number): ContactUpsert {
  const variables: Record<string, VariableValue> = {};
  for (const name of VARIABLES) if (chance(0.7)) variables[name] = pick(VARIABLE_VALUES);
  const maybe = () => (chance(0.6) ? pick(TEXTS) : null);
  return {
    bot_channel: pick(['TelegramChannel', 'WebChannel', 'CustomChannel'] as const),
    user_id: `u${i}-${pick(TEXTS)}`,
    user_phone_number: chance(0.3) ? pick(['+393331111111', '12345', '']) : null,
    first_name: maybe(),
    last_name: maybe(),
    user_name: maybe(),
    locale: chance(0.5) ? pick(['en', 'it', 'EN', 'pt-BR', '']) : null,
    variables,
  };
}

function randomAudience(): Audience {
  const count = 1 + Math.floor(random() * 4);
  const filters: AudienceFilter[] = Array.from({ length: count }, () => {
    const criteria = pick(CRITERIA);
    const value =
      criteria === 'HasValue' || criteria === 'EmptyOrUnset' ? null : criteria === 'IsLongerThan' || criteria === 'IsShorterThan' ? pick(LENGTHS) : pick(TEXTS);
    return { field: pick(FIELDS), criteria, value };
  });
  const join: Join[] = Array.from({ length: count - 1 }, () => pick(['AND', 'OR'] as const));
  return { filters, join };
}

describe('audienceCondition (SQL) against audienceMatches (the reference)', () => {
  const database = useTestDatabase();
  let botId: string;
  let contacts: Array<{ id: string } & ContactForAudience>;

  beforeAll(async () => {
    const { db } = database.current;
    botId = (await createBotRow(db)).id;
    await upsertContacts(
      db,
      botId,
      Array.from({ length: CONTACTS }, (_, i) => randomContact(i)),
    );
    const rows = await db.selectFrom('contacts').selectAll().where('bot_id', '=', botId).execute();
    // The reference reads the contacts as stored: what Postgres kept is what both sides see.
    contacts = rows.map((row) => ({
      id: row.id,
      fields: {
        user_id: row.user_id,
        user_phone_number: row.user_phone_number,
        bot_channel: row.bot_channel,
        first_name: row.first_name,
        last_name: row.last_name,
        user_name: row.user_name,
        locale: row.locale,
      },
      variables: row.variables,
    }));
    expect(contacts).toHaveLength(CONTACTS);
  });

  async function selectedBySql(audience: Audience): Promise<string[]> {
    const rows = await database.current.db.selectFrom('contacts').select('id').where('bot_id', '=', botId).where(audienceCondition(audience)).execute();
    return rows.map((r) => r.id).sort();
  }

  it(`agrees on ${AUDIENCES} random audiences over ${CONTACTS} random contacts (seed ${SEED})`, async () => {
    let nonTrivial = 0;
    for (let i = 0; i < AUDIENCES; i++) {
      const audience = randomAudience();
      const expected = contacts
        .filter((c) => audienceMatches(c, audience))
        .map((c) => c.id)
        .sort();
      const actual = await selectedBySql(audience);
      if (actual.join() !== expected.join()) {
        const sample = contacts.find((c) => actual.includes(c.id) !== expected.includes(c.id));
        throw new Error(
          `seed ${SEED}, audience #${i} ${JSON.stringify(audience)}: SQL selected ${actual.length}, reference ${expected.length}; ` +
            `first disagreement: ${JSON.stringify(sample)}`,
        );
      }
      if (expected.length > 0 && expected.length < CONTACTS) nonTrivial++;
    }
    // Random audiences must discriminate, or the comparison proves little.
    expect(nonTrivial).toBeGreaterThan(AUDIENCES / 2);
  });

  it('agrees on every criterion for every field, one filter at a time', async () => {
    const cases = FIELDS.flatMap((field) =>
      CRITERIA.flatMap((criteria) =>
        (criteria === 'IsLongerThan' || criteria === 'IsShorterThan' ? LENGTHS : ['red', '10', '2024-01-01', '', 'é']).map((value): Audience => ({
          filters: [{ field, criteria, value }],
          join: [],
        })),
      ),
    );
    for (let i = 0; i < cases.length; i += 5) {
      const chunk = cases.slice(i, i + 5);
      const results = await Promise.all(chunk.map(selectedBySql));
      chunk.forEach((audience, j) => {
        const expected = contacts
          .filter((c) => audienceMatches(c, audience))
          .map((c) => c.id)
          .sort();
        expect([audience.filters[0], results[j]]).toEqual([audience.filters[0], expected]);
      });
    }
  }, 120_000); // some 700 statements: 16 s alone, over 30 s beside the rest of the suite on 2 cores

  it('binds AND tighter than OR', async () => {
    const a: AudienceFilter = { field: 'color', criteria: 'Equals', value: 'red' };
    const b: AudienceFilter = { field: 'tier', criteria: 'HasValue', value: null };
    const c: AudienceFilter = { field: 'age', criteria: 'GreaterThan', value: '9' };
    const andThenOr = await selectedBySql({ filters: [a, b, c], join: ['AND', 'OR'] });
    const byHand = contacts
      .filter(
        (x) =>
          (audienceMatches(x, { filters: [a], join: [] }) && audienceMatches(x, { filters: [b], join: [] })) || audienceMatches(x, { filters: [c], join: [] }),
      )
      .map((x) => x.id)
      .sort();
    expect(andThenOr).toEqual(byHand);
  });

  it('never runs a field name or a value as SQL, even one the parser would have refused', async () => {
    const hostile = "x'); DELETE FROM contacts; --";
    const audience: Audience = {
      filters: [
        { field: hostile, criteria: 'EmptyOrUnset', value: null },
        { field: 'color', criteria: 'Different', value: "'; DROP TABLE contacts; --" },
      ],
      join: ['AND'],
    };
    const selected = await selectedBySql(audience);
    expect(selected).toEqual(
      contacts
        .filter((c) => audienceMatches(c, audience))
        .map((c) => c.id)
        .sort(),
    );
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM contacts WHERE bot_id = ${botId}`.execute(database.current.db);
    expect(Number(rows[0]!.n)).toBe(CONTACTS);
  });

  it('selects every contact for an empty audience', async () => {
    expect(await selectedBySql({ filters: [], join: [] })).toHaveLength(CONTACTS);
  });
});
