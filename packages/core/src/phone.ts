/** E.164 allows at most 15 digits; fewer than 3 is no phone number anywhere. */
const MIN_DIGITS = 3;
const MAX_DIGITS = 15;
const SEPARATORS = /[\s().\-/]/g;

/**
 * Normalises a phone number to digits with an optional leading `+`
 * ("+39 333-111 1111" → "+393331111111"). Common separators are dropped; any other character
 * makes the number invalid (undefined) rather than being silently removed, so "12ab34" is
 * never mistaken for "1234".
 */
export function normalisePhone(raw: string): string | undefined {
  const compact = raw.trim().replace(SEPARATORS, '');
  const plus = compact.startsWith('+') ? '+' : '';
  const digits = plus ? compact.slice(1) : compact;
  if (!/^\d+$/.test(digits)) return undefined;
  if (digits.length < MIN_DIGITS || digits.length > MAX_DIGITS) return undefined;
  return plus + digits;
}
