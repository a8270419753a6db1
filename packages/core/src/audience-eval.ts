import { criterionTakesValue, isSystemField, type Audience, type AudienceFilter, type Criterion, type SystemField } from './audience';
import type { VariableValue } from './hook-payload/types';

/**
 * The meaning of an audience (SPEC §3.1), as a pure function: the reference that the SQL of
 * `packages/db` (which does the real work, set-based) is tested against.
 *
 * - A field is a system field of the contact or one of its variables. Strings, numbers and
 *   booleans compare as their text; a missing value (absent, JSON null, NULL column) matches
 *   only EmptyOrUnset, Different, DoesNotContain and DoesNotStartWith. A JSON object or array
 *   has a value (HasValue) but no text: every comparison with it is false, its negations true.
 * - Text comparisons ignore case. GreaterThan/LesserThan compare as numbers when both sides
 *   are numbers (`[+-]digits[.digits]`, up to 15 digits each side), as instants when both are
 *   ISO-8601 dates (`YYYY-MM-DD[THH:MM[:SS[.fff]][Z|±HH:MM]]`, UTC when no offset), else as
 *   text by code point.
 * - IsLongerThan/IsShorterThan compare the length in characters with an integer.
 * - AND binds tighter than OR: `a AND b OR c` is `(a AND b) OR c`.
 */

export interface ContactForAudience {
  fields: Readonly<Record<SystemField, string | null>>;
  variables: Readonly<Record<string, VariableValue>>;
}

export const NUMBER_PATTERN = /^[+-]?\d{1,15}(\.\d{1,15})?$/;
export const ISO_INSTANT_PATTERN =
  /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?:T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,3}))?)?(Z|([+-])(0\d|1[0-4]):([0-5]\d))?)?$/;

/** Milliseconds since the epoch for an ISO-8601 date as defined above, else undefined. */
export function isoInstant(text: string): number | undefined {
  const m = ISO_INSTANT_PATTERN.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // setUTCFullYear: years below 100 are not 19xx
  if (date.getUTCDate() !== day) return undefined; // 2024-02-30 and the like
  const ms = Number((m[7] ?? '0').padEnd(3, '0'));
  date.setUTCHours(Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), ms);
  const offsetMinutes = m[9] ? (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) : 0;
  return date.getTime() - offsetMinutes * 60_000;
}

type Value = { kind: 'missing' } | { kind: 'structured' } | { kind: 'text'; text: string };

function valueOf(contact: ContactForAudience, field: string): Value {
  if (isSystemField(field)) {
    const text = contact.fields[field];
    return text === null || text === undefined ? { kind: 'missing' } : { kind: 'text', text };
  }
  if (!Object.hasOwn(contact.variables, field)) return { kind: 'missing' };
  const raw = contact.variables[field];
  if (raw === null || raw === undefined) return { kind: 'missing' };
  if (typeof raw === 'object') return { kind: 'structured' };
  return { kind: 'text', text: String(raw) };
}

/** Code-point order, like Postgres's "C" collation (JS `<` compares UTF-16 units). */
function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareOrdered(text: string, filterValue: string): number {
  if (NUMBER_PATTERN.test(text) && NUMBER_PATTERN.test(filterValue)) {
    return Math.sign(Number(text) - Number(filterValue));
  }
  const [a, b] = [isoInstant(text), isoInstant(filterValue)];
  if (a !== undefined && b !== undefined) return Math.sign(a - b);
  return compareText(text.toLowerCase(), filterValue.toLowerCase());
}

const length = (text: string) => [...text].length;

/** True when `criterion` holds for a present text value. */
function holds(criterion: Criterion, text: string, value: string): boolean {
  const t = text.toLowerCase();
  const v = value.toLowerCase();
  switch (criterion) {
    case 'Equals':
      return t === v;
    case 'Different':
      return t !== v;
    case 'Contains':
      return t.includes(v);
    case 'DoesNotContain':
      return !t.includes(v);
    case 'StartsWith':
      return t.startsWith(v);
    case 'DoesNotStartWith':
      return !t.startsWith(v);
    case 'HasValue':
      return text !== '';
    case 'EmptyOrUnset':
      return text === '';
    case 'GreaterThan':
      return compareOrdered(text, value) > 0;
    case 'LesserThan':
      return compareOrdered(text, value) < 0;
    case 'IsLongerThan':
      return length(text) > Number(value);
    case 'IsShorterThan':
      return length(text) < Number(value);
  }
}

/** The criteria a missing or structured value satisfies: the negations (and, for missing, EmptyOrUnset). */
const NEGATIONS: ReadonlySet<Criterion> = new Set<Criterion>(['Different', 'DoesNotContain', 'DoesNotStartWith']);

/** Whether a filter with this criterion holds for a contact that lacks the field: EmptyOrUnset and the negations. */
export function matchesMissingValue(criterion: Criterion): boolean {
  return criterion === 'EmptyOrUnset' || NEGATIONS.has(criterion);
}

export function filterMatches(contact: ContactForAudience, filter: AudienceFilter): boolean {
  const value = valueOf(contact, filter.field);
  switch (value.kind) {
    case 'missing':
      return matchesMissingValue(filter.criteria);
    case 'structured':
      return filter.criteria === 'HasValue' || NEGATIONS.has(filter.criteria);
    case 'text':
      return holds(filter.criteria, value.text, criterionTakesValue(filter.criteria) ? (filter.value ?? '') : '');
  }
}

/** Splits filters into OR-groups of AND-ed filters (AND binds tighter). */
export function orGroups(audience: Audience): AudienceFilter[][] {
  const groups: AudienceFilter[][] = [];
  audience.filters.forEach((filter, i) => {
    if (i === 0 || audience.join[i - 1] === 'OR') groups.push([filter]);
    else groups[groups.length - 1]!.push(filter);
  });
  return groups;
}

/** Whether the contact is in the audience; an empty audience is every contact. */
export function audienceMatches(contact: ContactForAudience, audience: Audience): boolean {
  if (audience.filters.length === 0) return true;
  return orGroups(audience).some((group) => group.every((filter) => filterMatches(contact, filter)));
}
