/**
 * Audience filters (SPEC §3.1): a list of `field criterion value` conditions joined by AND/OR,
 * AND binding tighter than OR. Used by a broadcast's configured audience and by hook calls
 * that replace it. Field names are system fields or variable names alike.
 */

export const CRITERIA = [
  'Equals',
  'Different',
  'GreaterThan',
  'LesserThan',
  'Contains',
  'DoesNotContain',
  'StartsWith',
  'DoesNotStartWith',
  'HasValue',
  'EmptyOrUnset',
  'IsLongerThan',
  'IsShorterThan',
] as const;

export type Criterion = (typeof CRITERIA)[number];
export type Join = 'AND' | 'OR';

export interface AudienceFilter {
  field: string;
  criteria: Criterion;
  /** null for HasValue and EmptyOrUnset, which take no value. */
  value: string | null;
}

/**
 * The most filters one audience may have, wherever it comes from (a broadcast saved through the
 * admin API, or a hook call's audience_* fields). Each filter adds bound parameters to the
 * audience statement, whose total Postgres caps at 65,535: a hook call with 25,000 filters was
 * accepted and then failed every dispatch attempt of its broadcast.
 */
export const MAX_FILTERS = 100;

export interface Audience {
  filters: AudienceFilter[];
  /** `join[i]` joins `filters[i]` and `filters[i + 1]`: always one fewer than the filters. */
  join: Join[];
}

const BY_LOWERCASE: ReadonlyMap<string, Criterion> = new Map<string, Criterion>([
  ...CRITERIA.map((c) => [c.toLowerCase(), c] as const),
  // The vendor's documentation spells it this way; callers copy it.
  ['cointains', 'Contains'],
]);

/** The criterion for a name, case-insensitively (and `Cointains`), or undefined. */
export function resolveCriterion(input: string): Criterion | undefined {
  return BY_LOWERCASE.get(input.trim().toLowerCase());
}

export function criterionTakesValue(criterion: Criterion): boolean {
  return criterion !== 'HasValue' && criterion !== 'EmptyOrUnset';
}

export function criterionTakesLength(criterion: Criterion): boolean {
  return criterion === 'IsLongerThan' || criterion === 'IsShorterThan';
}

/** The names system fields and variables may have: snake_case, as SPEC §2 requires. */
export const FIELD_NAME = /^[a-z_][a-z0-9_]{0,63}$/;

/** Contact columns a filter, a template or set_variables can name besides variables. */
export const SYSTEM_FIELDS = ['user_id', 'user_phone_number', 'bot_channel', 'first_name', 'last_name', 'user_name', 'locale'] as const;

export type SystemField = (typeof SYSTEM_FIELDS)[number];

export function isSystemField(name: string): name is SystemField {
  return (SYSTEM_FIELDS as readonly string[]).includes(name);
}

/** The system fields set_variables may write (identity fields are never set in bulk). */
export const WRITABLE_COLUMNS = ['first_name', 'last_name', 'user_name', 'locale'] as const;
export type WritableColumn = (typeof WRITABLE_COLUMNS)[number];

/**
 * Splits name → value assignments into contact columns (first_name, …, as text) and
 * variables: `set_variables` and a target's `variables` may name both alike.
 */
export function splitAssignments<V>(assignments: Readonly<Record<string, V>>): {
  columns: Partial<Record<WritableColumn, string | null>>;
  variables: Record<string, V>;
} {
  const columns: Partial<Record<WritableColumn, string | null>> = {};
  const variables: Record<string, V> = {};
  for (const [name, value] of Object.entries(assignments)) {
    if ((WRITABLE_COLUMNS as readonly string[]).includes(name)) {
      columns[name as WritableColumn] = value === null || value === undefined ? null : typeof value === 'object' ? JSON.stringify(value) : String(value);
    } else {
      variables[name] = value;
    }
  }
  return { columns, variables };
}

/** An audience in one line, for people: `favorite_color Equals "red" OR vip HasValue`. */
export function describeAudience(audience: Audience): string {
  if (audience.filters.length === 0) return 'every contact of the bot';
  return audience.filters
    .map((f, i) => `${i > 0 ? `${audience.join[i - 1] ?? 'AND'} ` : ''}${f.field} ${f.criteria}${f.value === null ? '' : ` ${JSON.stringify(f.value)}`}`)
    .join(' ');
}
