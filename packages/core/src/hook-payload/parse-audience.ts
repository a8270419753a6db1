import { CRITERIA, criterionTakesLength, criterionTakesValue, MAX_FILTERS, resolveCriterion, type Audience, type AudienceFilter, type Join } from '../audience';
import type { ErrorDetail } from '../errors';
import { readList } from './lists';
import { checkName, truncate } from './variables';

export const AUDIENCE_FIELDS = ['audience_filters', 'audience_criteria', 'audience_values', 'audience_join'] as const;

const NON_NEGATIVE_INTEGER = /^\d{1,9}$/;

/**
 * The audience_* fields of a hook call → an Audience, or undefined when no filters are given
 * (the broadcast's configured audience applies). Problems are pushed to `errors`.
 */
export function parseAudienceFields(body: Record<string, unknown>, errors: ErrorDetail[]): Audience | undefined {
  // The vendor documents filters as comma-separated and the rest as ;-separated: accept both here.
  const filters = readList(body, 'audience_filters', 'names', /[;,]/);
  const criteria = readList(body, 'audience_criteria', 'names');
  const values = readList(body, 'audience_values', 'values');
  const join = readList(body, 'audience_join', 'names');
  const before = errors.length;
  for (const list of [filters, criteria, values, join]) if (!list.ok) errors.push(list.error);
  if (!filters.ok || !criteria.ok || !values.ok || !join.ok) return undefined;

  if (!filters.items) {
    for (const [field, list] of [
      ['audience_criteria', criteria],
      ['audience_values', values],
      ['audience_join', join],
    ] as const) {
      if (list.items) {
        errors.push({ path: field, message: 'is given without audience_filters', expected: 'audience_filters naming the fields to filter on' });
      }
    }
    return undefined;
  }

  const fields = filters.items;
  const n = fields.length;
  if (n > MAX_FILTERS) {
    errors.push({ path: 'audience_filters', message: `has ${n} filters`, expected: `at most ${MAX_FILTERS}` });
    return undefined;
  }
  fields.forEach((field, i) => {
    const bad = checkName(field, `audience_filters[${i}]`);
    if (bad) errors.push(bad);
  });

  const resolved = resolveCriteria(criteria.items, n, errors);
  const filterValues = resolveValues(values.items, resolved, n, errors);
  const joins = resolveJoins(join.items, n, errors);
  if (errors.length > before || !resolved || !filterValues || !joins) return undefined;

  const audienceFilters: AudienceFilter[] = fields.map((field, i) => ({
    field,
    criteria: resolved[i]!,
    value: filterValues[i]!,
  }));
  return { filters: audienceFilters, join: joins };
}

function countMismatch(field: string, count: number, n: number, allowed: string): ErrorDetail {
  return {
    path: field,
    message: `has ${count} item${count === 1 ? '' : 's'} but audience_filters has ${n}`,
    expected: allowed,
  };
}

function resolveCriteria(items: string[] | undefined, n: number, errors: ErrorDetail[]) {
  if (!items) {
    errors.push({ path: 'audience_criteria', message: 'is missing', expected: `one criterion, or one per filter (${n})` });
    return undefined;
  }
  if (items.length !== 1 && items.length !== n) {
    errors.push(countMismatch('audience_criteria', items.length, n, `1 criterion for all filters, or ${n}`));
    return undefined;
  }
  const resolved = items.map((item, i) => {
    const criterion = resolveCriterion(item);
    if (!criterion) {
      errors.push({
        path: `audience_criteria[${i}]`,
        message: `"${truncate(item)}" is not a criterion`,
        expected: `one of ${CRITERIA.join(', ')}`,
      });
    }
    return criterion;
  });
  if (resolved.some((c) => !c)) return undefined;
  // A single criterion applies to every filter.
  return Array.from({ length: n }, (_, i) => resolved[items.length === 1 ? 0 : i]!);
}

function resolveValues(
  items: string[] | undefined,
  criteria: ReturnType<typeof resolveCriteria>,
  n: number,
  errors: ErrorDetail[],
): Array<string | null> | undefined {
  if (!criteria) return undefined;
  const needsValues = criteria.some(criterionTakesValue);
  if (!items) {
    if (!needsValues) return criteria.map(() => null);
    errors.push({ path: 'audience_values', message: 'is missing', expected: `${n} value${n === 1 ? '' : 's'}, one per filter` });
    return undefined;
  }
  if (items.length !== n) {
    errors.push(countMismatch('audience_values', items.length, n, `${n}: one per filter (an empty slot for HasValue / EmptyOrUnset)`));
    return undefined;
  }
  let ok = true;
  const values = criteria.map((criterion, i) => {
    if (!criterionTakesValue(criterion)) return null;
    const value = items[i]!;
    if (criterionTakesLength(criterion) && !NON_NEGATIVE_INTEGER.test(value.trim())) {
      errors.push({ path: `audience_values[${i}]`, message: `"${truncate(value)}" is not a length`, expected: `a non-negative integer for ${criterion}` });
      ok = false;
    }
    return criterionTakesLength(criterion) ? value.trim() : value;
  });
  return ok ? values : undefined;
}

function resolveJoins(items: string[] | undefined, n: number, errors: ErrorDetail[]): Join[] | undefined {
  const gaps = n - 1;
  if (!items) return Array.from({ length: gaps }, () => 'AND' as const);
  if (items.length !== 1 && items.length !== gaps) {
    errors.push(countMismatch('audience_join', items.length, n, gaps > 1 ? `1 operator for all, or ${gaps} (one between each pair of filters)` : '1 operator'));
    return undefined;
  }
  const joins = items.map((item, i) => {
    const upper = item.toUpperCase();
    if (upper === 'AND' || upper === 'OR') return upper;
    errors.push({ path: `audience_join[${i}]`, message: `"${truncate(item)}" is not an operator`, expected: 'AND or OR' });
    return undefined;
  });
  if (joins.some((j) => !j)) return undefined;
  return Array.from({ length: gaps }, (_, i) => joins[items.length === 1 ? 0 : i]!);
}
