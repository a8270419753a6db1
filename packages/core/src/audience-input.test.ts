import { normaliseAudience } from './audience-input';

describe('normaliseAudience', () => {
  it('resolves criteria, stringifies values and expands join', () => {
    expect(
      normaliseAudience({
        filters: [
          { field: 'tier', criteria: 'equals', value: 'gold' },
          { field: 'age', criteria: 'GreaterThan', value: 30 },
          { field: 'email', criteria: 'HasValue', value: 'ignored' },
        ],
        join: ['or'],
      }),
    ).toEqual({
      audience: {
        filters: [
          { field: 'tier', criteria: 'Equals', value: 'gold' },
          { field: 'age', criteria: 'GreaterThan', value: '30' },
          { field: 'email', criteria: 'HasValue', value: null },
        ],
        join: ['OR', 'OR'],
      },
    });
  });

  it('defaults join to AND and accepts an empty audience', () => {
    expect(
      normaliseAudience({
        filters: [
          { field: 'a', criteria: 'Cointains', value: 'x' },
          { field: 'b', criteria: 'Equals', value: '' },
        ],
      }),
    ).toEqual({
      audience: {
        filters: [
          { field: 'a', criteria: 'Contains', value: 'x' },
          { field: 'b', criteria: 'Equals', value: '' },
        ],
        join: ['AND'],
      },
    });
    expect(normaliseAudience({ filters: [] })).toEqual({ audience: { filters: [], join: [] } });
  });

  it('names every bad part', () => {
    const result = normaliseAudience({
      filters: [
        { field: 'Bad-Name', criteria: 'Equals', value: 'x' },
        { field: 'b', criteria: 'Near', value: 'x' },
        { field: 'c', criteria: 'IsLongerThan', value: 'long' },
      ],
      join: ['AND', 'XOR', 'OR'],
    });
    expect('errors' in result && result.errors.map((e) => e.path)).toEqual([
      'audience.filters[0].field',
      'audience.filters[1].criteria',
      'audience.filters[2].value',
      'audience.join[1]',
      'audience.join',
    ]);
  });
});
