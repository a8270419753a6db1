import { normalisePhone } from './phone';

describe('normalisePhone', () => {
  it.each([
    ['393331111111', '393331111111'],
    ['+39 333 111 1111', '+393331111111'],
    ['+1 (415) 555-0100', '+14155550100'],
    ['0044.20.7946.0018', '00442079460018'],
    ['  42  ', undefined],
    ['123', '123'],
  ])('%j → %j', (input, expected) => {
    expect(normalisePhone(input)).toBe(expected);
  });

  it.each(['', '+', '12ab34', '++3912345', '39+12345', '1234567890123456'])('rejects %j', (input) => {
    expect(normalisePhone(input)).toBeUndefined();
  });
});
