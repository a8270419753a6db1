import { sql, type RawBuilder } from 'kysely';
import { NUMBER_PATTERN, isoInstant, isSystemField, orGroups, type Audience, type AudienceFilter, type SystemField } from '@herald/core';

/**
 * An audience (SPEC §3.1) as a SQL condition on `contacts` — the set-based twin of
 * `audienceMatches` in @herald/core, and tested against it. Injection-proof by construction:
 * system fields map to columns through the allow-list below, variable names and every value
 * travel as bound parameters, and nothing from the audience is ever spliced into SQL text.
 * Every filter yields a strict true/false (never NULL), so NOT/OR combine as the evaluator does.
 */

const SYSTEM_COLUMNS: Readonly<Record<SystemField, string>> = {
  user_id: 'user_id',
  user_phone_number: 'user_phone_number',
  bot_channel: 'bot_channel',
  first_name: 'first_name',
  last_name: 'last_name',
  user_name: 'user_name',
  locale: 'locale',
};

const SQL_NUMBER = NUMBER_PATTERN.source.replace(/\\d/g, '[0-9]');

interface FieldSql {
  /** The value as text; NULL when missing or structured (object/array). */
  text: RawBuilder<string | null>;
  /** True for a JSON object or array (has a value, but no text). Never NULL. */
  structured: RawBuilder<boolean>;
}

function fieldSql(field: string, table: string): FieldSql {
  if (isSystemField(field)) {
    return { text: sql<string | null>`${sql.ref(`${table}.${SYSTEM_COLUMNS[field]}`)}`, structured: sql<boolean>`false` };
  }
  const value = sql`(${sql.ref(`${table}.variables`)} -> ${field})`;
  return {
    text: sql<string | null>`(CASE WHEN jsonb_typeof(${value}) IN ('string', 'number', 'boolean') THEN ${value} #>> '{}' END)`,
    structured: sql<boolean>`coalesce(jsonb_typeof(${value}) IN ('object', 'array'), false)`,
  };
}

/** Case-insensitive text order by code point: lower() in the database's locale, compared as "C". */
function textCompare(t: RawBuilder<unknown>, op: '>' | '<', v: string) {
  return sql`(lower(${t}) COLLATE "C" ${sql.raw(op)} lower(${v}::text) COLLATE "C")`;
}

/** GreaterThan / LesserThan: the branch is chosen by what the filter value is (known here). */
function orderedCompare(t: RawBuilder<unknown>, op: '>' | '<', v: string) {
  if (NUMBER_PATTERN.test(v)) {
    return sql`(CASE WHEN ${t} ~ ${SQL_NUMBER} THEN ${t}::float8 ${sql.raw(op)} ${v}::float8 ELSE ${textCompare(t, op, v)} END)`;
  }
  if (isoInstant(v) !== undefined) {
    return sql`(CASE WHEN herald_iso_instant(${t}) IS NOT NULL
                 THEN herald_iso_instant(${t}) ${sql.raw(op)} herald_iso_instant(${v}::text)
                 ELSE ${textCompare(t, op, v)} END)`;
  }
  return textCompare(t, op, v);
}

function filterSql(filter: AudienceFilter, table: string): RawBuilder<boolean> {
  const { text: t, structured } = fieldSql(filter.field, table);
  const v = filter.value ?? '';
  const positive = (condition: RawBuilder<unknown>) => sql<boolean>`coalesce(${condition}, false)`;
  const negative = (condition: RawBuilder<unknown>) => sql<boolean>`NOT coalesce(${condition}, false)`;
  const equals = sql`lower(${t}) = lower(${v}::text)`;
  const contains = sql`strpos(lower(${t}), lower(${v}::text)) > 0`;
  const startsWith = sql`starts_with(lower(${t}), lower(${v}::text))`;
  switch (filter.criteria) {
    case 'Equals':
      return positive(equals);
    case 'Different':
      return negative(equals);
    case 'Contains':
      return positive(contains);
    case 'DoesNotContain':
      return negative(contains);
    case 'StartsWith':
      return positive(startsWith);
    case 'DoesNotStartWith':
      return negative(startsWith);
    case 'HasValue':
      return sql<boolean>`(${structured} OR coalesce(${t} <> '', false))`;
    case 'EmptyOrUnset':
      return sql<boolean>`(NOT ${structured} AND coalesce(${t} = '', true))`;
    case 'GreaterThan':
      return positive(orderedCompare(t, '>', v));
    case 'LesserThan':
      return positive(orderedCompare(t, '<', v));
    case 'IsLongerThan':
      return positive(sql`length(${t}) > ${Number(v)}::int`);
    case 'IsShorterThan':
      return positive(sql`length(${t}) < ${Number(v)}::int`);
  }
}

/** The audience as one boolean SQL expression over `table` (default `contacts`); empty → true. */
export function audienceCondition(audience: Audience, table = 'contacts'): RawBuilder<boolean> {
  if (audience.filters.length === 0) return sql<boolean>`true`;
  const groups = orGroups(audience).map(
    (group) =>
      sql`(${sql.join(
        group.map((f) => filterSql(f, table)),
        sql` AND `,
      )})`,
  );
  return sql<boolean>`(${sql.join(groups, sql` OR `)})`;
}
