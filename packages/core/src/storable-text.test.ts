import { findUnstorableText } from './storable-text';

describe('findUnstorableText', () => {
  it.each([
    ['plain text, emoji and accents', { a: 'Zürich 🚀', b: ['x', { c: 'ok' }], n: 1, t: true, z: null }, undefined],
    ['a NUL in a value', { a: 'x', b: { c: 'A\u0000B' } }, 'b.c'],
    ['a NUL in an array element', { list: ['ok', 'bad\u0000'] }, 'list[1]'],
    ['a NUL in a name', { ['na\u0000me']: 'x' }, 'na\u0000me'],
    ['a lone high surrogate', { a: 'A\uD800B' }, 'a'],
    ['a lone low surrogate', { a: '\uDC00' }, 'a'],
    ['a surrogate pair split by reversal', { a: '\uDE80\uD83D' }, 'a'],
  ])('%s', (_name, value, path) => {
    expect(findUnstorableText(value)?.path).toBe(path);
  });

  it('says what is wrong', () => {
    expect(findUnstorableText({ a: 'A\u0000' })).toEqual({
      path: 'a',
      message: 'contains U+0000 (NUL), which cannot be stored',
      expected: 'text without U+0000 or unpaired surrogates',
    });
    expect(findUnstorableText('\uD800', 'line 3.first_name')?.message).toMatch(/unpaired UTF-16 surrogate/);
  });

  it('walks deep nesting without overflowing the stack', () => {
    let deep: unknown = 'bad\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableText({ deep })?.path).toBe(`deep${'[0]'.repeat(100_000)}`);
  });
});
