import { AppError } from '@herald/core';

/**
 * How deep a request body may nest objects and arrays. Real bodies nest a few levels (contact
 * variables, audiences, hook payloads); code that recurses over a body — JSON.stringify,
 * Joi, Postgres's jsonb input — overflows its stack a few thousand levels down, which a
 * 16 MB body of `[` reaches easily. 64 is far from both.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether a parsed JSON value nests objects and arrays deeper than `maxDepth` (`{}` and `[]`
 * are 1 level, a string 0). Walks with an explicit stack, since the point is to survive input
 * that recursion would not, and stops at the first level too deep.
 */
export function exceedsJsonDepth(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length) {
    const item = stack.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (child !== null && typeof child === 'object') {
        stack.push(child as object);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** The 400 for a body nested too deep, or undefined when it is not. */
export function jsonDepthError(value: unknown, maxDepth = MAX_JSON_DEPTH): AppError | undefined {
  if (!exceedsJsonDepth(value, maxDepth)) return undefined;
  return new AppError(400, 'bad_request', `Request body nests objects and arrays more than ${maxDepth} levels deep`, [
    { path: 'body', message: `nests more than ${maxDepth} levels deep`, expected: `at most ${maxDepth} levels of nested objects and arrays` },
  ]);
}

/**
 * Throws jsonDepthError's 400: for a body parser of its own (the hook's readJsonBody), right
 * after JSON.parse and before anything walks the value.
 */
export function assertJsonDepth(value: unknown, maxDepth = MAX_JSON_DEPTH): void {
  const error = jsonDepthError(value, maxDepth);
  if (error) throw error;
}
