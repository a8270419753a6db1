/**
 * Seeded randomness for tests that explore inputs (differential and fuzz tests): the same seed
 * gives the same sequence, so a failure names the seed that reproduces it.
 */
export interface Random {
  /** In [0, 1). */
  next(): number;
  int(maxExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** The seed of the garbage tests: `GARBAGE_SEED=<n> pnpm test` explores another one. */
export const GARBAGE_SEED = Number(process.env['GARBAGE_SEED'] ?? 20261126);

/** mulberry32: small, fast, and good enough to spread test inputs. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (maxExclusive: number) => Math.floor(next() * maxExclusive);
  return { next, int, pick: (items) => items[int(items.length)]!, chance: (p) => next() < p };
}

/** Strings meant to break things: control characters, NUL, lone surrogates, quotes, SQL, sizes. */
const NASTY_TEXTS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800',
  '\uDFFF',
  '🚀',
  'Zürich',
  'İı',
  "O'Brien",
  '"; DROP TABLE contacts; --',
  '%_\\',
  '{{first_name}}',
  '\r\n\t',
  '\u202Eevil',
  'null',
  'true',
  '1e309',
  '-0',
  '0x10',
  '2024-02-30',
  '2024-01-01T00:00:00Z',
  'whatsapp',
  'WhatsAppChannel',
  '+39 333 1234567',
  'AND',
  'Equals',
  ';;;',
];

/** Any JSON value, nested up to `depth`, made of nasty texts and odd numbers. */
export function garbageJson(random: Random, depth = 3): unknown {
  const kind = random.int(depth > 0 ? 8 : 6);
  switch (kind) {
    case 0:
      return random.pick(NASTY_TEXTS);
    case 1:
      return random.pick(NASTY_TEXTS).repeat(1 + random.int(3)) + random.pick(NASTY_TEXTS);
    case 2:
      return random.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 42]);
    case 3:
      return random.chance(0.5);
    case 4:
      return null;
    case 5:
      return 'x'.repeat(random.pick([1, 255, 257, 1025, 70_000]));
    case 6:
      return Array.from({ length: random.int(4) }, () => garbageJson(random, depth - 1));
    default:
      return garbageObject(random, [], depth - 1);
  }
}

/** An object whose keys are mostly `knownKeys` (so it gets past the first checks) and its values garbage. */
export function garbageObject(random: Random, knownKeys: readonly string[], depth = 2): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const size = random.int(6);
  for (let i = 0; i < size; i++) {
    const key = knownKeys.length && random.chance(0.8) ? random.pick(knownKeys) : random.pick(NASTY_TEXTS);
    object[key] = garbageJson(random, depth);
  }
  return object;
}

/**
 * A valid `base` with one or two of `keys` replaced by garbage: input that passes most checks
 * and so reaches the deeper ones (and the database), where the bugs hide.
 */
export function garbageVariant(random: Random, base: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const variant: Record<string, unknown> = { ...base };
  const changes = 1 + random.int(2);
  for (let i = 0; i < changes; i++) variant[random.pick(keys)] = random.chance(0.5) ? random.pick(NASTY_TEXTS) : garbageJson(random, 2);
  return variant;
}

/** SPEC §3.1's example call: two filters joined with AND, two variables set. */
export const SPEC_EXAMPLE_HOOK_BODY: Readonly<Record<string, string>> = {
  audience_filters: 'user_id;favorite_color',
  audience_criteria: 'Equals;Equals',
  audience_values: '3030391;red',
  audience_join: 'AND',
  set_variables: 'new_favorite_color;discount',
  set_variables_values: 'magenta;10',
};

/** Valid hook calls of each mode (SPEC §3.1): bases for `garbageVariant`. */
export const VALID_HOOK_BODIES: readonly Record<string, unknown>[] = [
  {
    audience_filters: 'color;age',
    audience_criteria: 'Equals;GreaterThan',
    audience_values: 'red;30',
    audience_join: 'AND',
    set_variables: 'x',
    set_variables_values: '1',
  },
  { set_conversation: true, user_id: '42', bot_channel: 'telegram', set_variables: 'x;y', set_variables_values: '1;2' },
  {
    targets: [
      { user_id: '1', bot_channel: 'telegram', variables: { v: 1 } },
      { user_phone_number: '+39 333 1234567', bot_channel: 'whatsapp' },
    ],
  },
];
