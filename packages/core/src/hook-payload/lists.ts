import type { ErrorDetail } from '../errors';

/**
 * The list fields of a hook call come as a separated string (`"a;b"`) or a JSON array
 * (`["a","b"]`). Arrays are taken as they are — the way to pass a value containing `;` —
 * while strings are split and each item trimmed.
 */
export type ListKind = 'names' | 'values';

export type ListResult = { ok: true; items: string[] | undefined } | { ok: false; error: ErrorDetail };

const SEPARATED = 'a ;-separated string or an array of strings';

export function readList(body: Record<string, unknown>, field: string, kind: ListKind, separators = /;/): ListResult {
  const raw = body[field];
  if (raw === undefined || raw === null) return { ok: true, items: undefined };
  if (typeof raw === 'string') {
    // An empty list of names is no list at all; an empty value is one empty slot.
    if (kind === 'names' && raw.trim() === '') return { ok: true, items: undefined };
    return { ok: true, items: raw.split(separators).map((item) => item.trim()) };
  }
  if (Array.isArray(raw)) {
    const items: string[] = [];
    for (const [index, item] of raw.entries()) {
      if (item === null) items.push('');
      else if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
        items.push(kind === 'names' ? String(item).trim() : String(item));
      } else {
        return {
          ok: false,
          error: { path: `${field}[${index}]`, message: `is ${describe(item)}`, expected: 'a string, number or boolean' },
        };
      }
    }
    return { ok: true, items: kind === 'names' && items.length === 0 ? undefined : items };
  }
  return { ok: false, error: { path: field, message: `is ${describe(raw)}`, expected: SEPARATED } };
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
