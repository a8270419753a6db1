import { AppError } from '@herald/core';
import { bigintCursor, createdAtCursorOf, encodeCursor, isCreatedAtCursor, pageRequest } from './pagination';

/** pageRequest's answer to a cursor: its value, or the 400 it throws. */
function read(cursor: unknown, isCursor: (value: unknown) => boolean) {
  try {
    return pageRequest({ cursor: encodeCursor(cursor) }, isCursor as (value: unknown) => value is unknown).cursor;
  } catch (error) {
    return error;
  }
}

const CURSOR_400 = {
  status: 400,
  code: 'validation_failed',
  details: [{ path: 'cursor', message: 'is not a cursor this list gave out', expected: 'the next_cursor of the previous page' }],
};

describe('bigint cursors ({id} of contacts, deliveries and outbox messages; {seq} of triggers)', () => {
  for (const key of ['id', 'seq'] as const) {
    const isCursor = bigintCursor(key);

    it(`takes {${key}} from 1 to bigint's largest, as given out`, () => {
      for (const value of ['1', '42', '9223372036854775807']) expect(read({ [key]: value }, isCursor)).toEqual({ [key]: value });
    });

    it(`refuses {${key}} past bigint, or anything else Postgres would not take as one`, () => {
      for (const value of ['9223372036854775808', '99999999999999999999', '1'.repeat(400), '0', '-1', '01', '1.5', ' 1', 1, 1e20, ['5'], null]) {
        const error = read({ [key]: value }, isCursor);
        expect([value, error]).toEqual([value, expect.any(AppError)]);
        expect(error).toMatchObject(CURSOR_400);
      }
      expect(read({ other: '1' }, isCursor)).toMatchObject(CURSOR_400);
      expect(read(['1'], isCursor)).toMatchObject(CURSOR_400);
    });
  }
});

describe('{created_at, id} cursors (bots, broadcasts, runs)', () => {
  const id = '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11';

  it('takes what createdAtCursorOf gives out', () => {
    const given = createdAtCursorOf({ created_at: new Date('2026-03-01T12:34:56.789Z'), id });
    expect(read(given, isCreatedAtCursor)).toEqual({ created_at: '2026-03-01T12:34:56.789Z', id });
    expect(read({ created_at: '0001-01-01T00:00:00.000Z', id: id.toUpperCase() }, isCreatedAtCursor)).toMatchObject({ id: id.toUpperCase() });
  });

  it('refuses an instant timestamptz cannot hold or toISOString would not write', () => {
    for (const created_at of [
      '-100000-01-01T00:00:00.000Z',
      '+200000-01-01T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '2026-02-30T00:00:00.000Z',
      '2026-03-01T12:34:56Z',
      'Tue, 01 Jan 2026',
      5,
      null,
    ]) {
      expect([created_at, read({ created_at, id }, isCreatedAtCursor)]).toEqual([created_at, expect.objectContaining(CURSOR_400)]);
    }
  });

  it('refuses an id that is not a uuid', () => {
    for (const bad of ['------------------------------------', 'zb0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11', [id], 7]) {
      expect([bad, read({ created_at: '2026-03-01T12:34:56.789Z', id: bad }, isCreatedAtCursor)]).toEqual([bad, expect.objectContaining(CURSOR_400)]);
    }
  });
});
