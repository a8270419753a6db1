import { audienceMatches, isoInstant, type ContactForAudience } from './audience-eval';
import { CRITERIA, type Audience, type Criterion } from './audience';

const contact = (variables: ContactForAudience['variables'], fields: Partial<ContactForAudience['fields']> = {}): ContactForAudience => ({
  fields: {
    user_id: '42',
    user_phone_number: null,
    bot_channel: 'TelegramChannel',
    first_name: null,
    last_name: null,
    user_name: null,
    locale: null,
    ...fields,
  },
  variables,
});
const one = (field: string, criteria: Criterion, value: string | null = null): Audience => ({ filters: [{ field, criteria, value }], join: [] });

describe('isoInstant', () => {
  it.each([
    ['2024-01-01', Date.UTC(2024, 0, 1)],
    ['2024-02-29T10:00', Date.UTC(2024, 1, 29, 10)],
    ['2024-06-01T10:20:30.5+02:00', Date.UTC(2024, 5, 1, 8, 20, 30, 500)],
    ['2023-12-31T23:59:59.999Z', Date.UTC(2023, 11, 31, 23, 59, 59, 999)],
  ])('%s', (text, expected) => {
    expect(isoInstant(text)).toBe(expected);
  });

  it('keeps years below 100 as they are (not 19xx) and applies the offset', () => {
    const expected = new Date(0);
    expected.setUTCFullYear(99, 2, 1);
    expected.setUTCHours(14, 0, 0, 0);
    expect(isoInstant('0099-03-01T00:00-14:00')).toBe(expected.getTime());
  });

  it.each(['2024-02-30', '2023-02-29', '0000-01-01', '2024-13-01', '2024-01-01T24:00', '2024-1-1', '2024-01-01T10:00:00.1234Z', 'x'])('rejects %s', (text) => {
    expect(isoInstant(text)).toBeUndefined();
  });
});

describe('audienceMatches', () => {
  it('treats a missing variable as matching only EmptyOrUnset and the negations', () => {
    const c = contact({});
    const matching = CRITERIA.filter((criteria) => audienceMatches(c, one('color', criteria, criteria.startsWith('Is') ? '1' : 'x')));
    expect(matching).toEqual(['Different', 'DoesNotContain', 'DoesNotStartWith', 'EmptyOrUnset']);
  });

  it('gives a JSON object a value but no text', () => {
    const c = contact({ cart: { items: 2 } });
    expect(audienceMatches(c, one('cart', 'HasValue'))).toBe(true);
    expect(audienceMatches(c, one('cart', 'EmptyOrUnset'))).toBe(false);
    expect(audienceMatches(c, one('cart', 'Contains', 'items'))).toBe(false);
    expect(audienceMatches(c, one('cart', 'Different', 'x'))).toBe(true);
  });

  it('compares numbers as numbers, dates as instants, and the rest as text, ignoring case', () => {
    expect(audienceMatches(contact({ age: '10' }), one('age', 'GreaterThan', '9'))).toBe(true);
    expect(audienceMatches(contact({ age: 10 }), one('age', 'GreaterThan', '9'))).toBe(true);
    expect(audienceMatches(contact({ age: 'ten' }), one('age', 'GreaterThan', '9'))).toBe(true); // "t" > "9" as text
    expect(audienceMatches(contact({ at: '2024-06-01T12:00:00+02:00' }), one('at', 'LesserThan', '2024-06-01T11:00:00Z'))).toBe(true);
    expect(audienceMatches(contact({ color: 'RED' }), one('color', 'Equals', 'red'))).toBe(true);
    expect(audienceMatches(contact({ name: 'Café' }), one('name', 'StartsWith', 'CAF'))).toBe(true);
  });

  it('reads system fields from the contact', () => {
    expect(audienceMatches(contact({}, { first_name: 'Ada' }), one('first_name', 'Equals', 'ada'))).toBe(true);
    expect(audienceMatches(contact({}), one('first_name', 'EmptyOrUnset'))).toBe(true);
  });

  it('binds AND tighter than OR and matches everyone with no filters', () => {
    const c = contact({ a: '1', b: '2', c: '3' });
    const f = (field: string, value: string) => ({ field, criteria: 'Equals' as const, value });
    expect(audienceMatches(c, { filters: [f('a', 'x'), f('b', '2'), f('c', '3')], join: ['AND', 'OR'] })).toBe(true);
    expect(audienceMatches(c, { filters: [f('a', '1'), f('b', 'x'), f('c', 'x')], join: ['OR', 'AND'] })).toBe(true);
    expect(audienceMatches(c, { filters: [f('a', 'x'), f('b', '2'), f('c', 'x')], join: ['OR', 'AND'] })).toBe(false);
    expect(audienceMatches(c, { filters: [], join: [] })).toBe(true);
  });
});
