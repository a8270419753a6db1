import { FIELD_NAME, resolveCriterion, criterionTakesLength, criterionTakesValue, CRITERIA, type Audience, type Join } from './audience';
import type { ErrorDetail } from './errors';

/** A broadcast's audience as the admin API receives it (SPEC §5). */
export interface AudienceInput {
  filters: Array<{ field: string; criteria: string; value?: string | number | boolean | null }>;
  join?: string[];
}

/**
 * Normalises an admin-API audience: criteria resolved (any case, `Cointains`), values as text,
 * `join` expanded to one operator per gap (a single one applies to all; none means AND).
 * Problems are returned with paths under `path` (e.g. `audience.filters[1].criteria`).
 */
export function normaliseAudience(input: AudienceInput, path = 'audience'): { audience: Audience } | { errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const filters = input.filters.map((filter, i) => {
    const at = `${path}.filters[${i}]`;
    if (!FIELD_NAME.test(filter.field)) {
      errors.push({ path: `${at}.field`, message: `"${filter.field}" is not a valid name`, expected: 'a snake_case field or variable name' });
    }
    const criteria = resolveCriterion(filter.criteria);
    if (!criteria) {
      errors.push({ path: `${at}.criteria`, message: `"${filter.criteria}" is not a criterion`, expected: `one of ${CRITERIA.join(', ')}` });
      return undefined;
    }
    if (!criterionTakesValue(criteria)) return { field: filter.field, criteria, value: null };
    const value = filter.value === undefined || filter.value === null ? '' : String(filter.value);
    if (criterionTakesLength(criteria) && !/^\d{1,9}$/.test(value)) {
      errors.push({ path: `${at}.value`, message: `"${value}" is not a length`, expected: `a non-negative integer for ${criteria}` });
    }
    return { field: filter.field, criteria, value };
  });

  const gaps = Math.max(0, filters.length - 1);
  const given = (input.join ?? []).map((j) => j.toUpperCase());
  given.forEach((j, i) => {
    if (j !== 'AND' && j !== 'OR') errors.push({ path: `${path}.join[${i}]`, message: `"${j}" is not an operator`, expected: 'AND or OR' });
  });
  if (given.length > 1 && given.length !== gaps) {
    errors.push({ path: `${path}.join`, message: `has ${given.length} operators for ${filters.length} filters`, expected: `1, or ${gaps}` });
  }
  if (errors.length) return { errors };
  const join = Array.from({ length: gaps }, (_, i) => (given.length === 0 ? 'AND' : given[given.length === 1 ? 0 : i]) as Join);
  return { audience: { filters: filters.map((f) => f!), join } };
}
