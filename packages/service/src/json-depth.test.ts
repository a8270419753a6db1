import { AppError } from '@herald/core';
import { assertJsonDepth, exceedsJsonDepth, jsonDepthError, MAX_JSON_DEPTH } from './json-depth';

const nestedArrays = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth));
const nestedObjects = (depth: number): unknown => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));

describe('exceedsJsonDepth', () => {
  it('counts each object or array as a level, and scalars as none', () => {
    for (const scalar of [null, 1, 'text', true, undefined]) expect(exceedsJsonDepth(scalar, 0)).toBe(false);
    expect(exceedsJsonDepth({}, 0)).toBe(true);
    expect(exceedsJsonDepth({}, 1)).toBe(false);
    expect(exceedsJsonDepth({ a: [1, { b: 'x' }] }, 3)).toBe(false);
    expect(exceedsJsonDepth({ a: [1, { b: 'x' }] }, 2)).toBe(true);
  });

  it('allows exactly the limit, objects and arrays alike, and finds a deep branch among shallow ones', () => {
    for (const nested of [nestedArrays, nestedObjects]) {
      expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH))).toBe(false);
      expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    }
    expect(exceedsJsonDepth({ wide: Array.from({ length: 1000 }, () => ({ x: 1 })), deep: nestedObjects(MAX_JSON_DEPTH) })).toBe(true);
  });

  it('answers for nesting JSON.stringify cannot take', () => {
    const deep = nestedArrays(200_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(exceedsJsonDepth(deep)).toBe(true);
  });
});

describe('jsonDepthError and assertJsonDepth', () => {
  it('give a 400 bad_request naming the limit, and nothing for a body within it', () => {
    expect(jsonDepthError({ contacts: [{ variables: { a: [1] } }] })).toBeUndefined();
    expect(() => assertJsonDepth({ contacts: [] })).not.toThrow();
    const error = jsonDepthError(nestedArrays(5_000));
    expect(error).toBeInstanceOf(AppError);
    expect([error?.status, error?.toBody()]).toEqual([
      400,
      {
        error: {
          code: 'bad_request',
          message: `Request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`,
          details: [
            {
              path: 'body',
              message: `nests more than ${MAX_JSON_DEPTH} levels deep`,
              expected: `at most ${MAX_JSON_DEPTH} levels of nested objects and arrays`,
            },
          ],
        },
      },
    ]);
    expect(() => assertJsonDepth(nestedObjects(5_000))).toThrow(error!.message);
  });
});
