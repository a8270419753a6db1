import type { ErrorDetail } from './errors';

/**
 * Text Postgres cannot store: U+0000 (refused by `text` and `jsonb` alike) and lone UTF-16
 * surrogates (JavaScript strings allow them, `JSON.stringify` writes them as `\udXXX`, and
 * `jsonb` refuses those escapes). Every input is checked for both at the boundary, so such a
 * value gets a 400 that names it instead of a 500 from the database — or, in a batched write,
 * a failure for the calls batched with it.
 *
 * Walks objects (keys included) and arrays with an explicit stack: a deeply nested body must
 * not overflow the call stack. Returns the first problem found.
 */
export function findUnstorableText(value: unknown, path = 'body'): ErrorDetail | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path }];
  while (stack.length) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      const problem = textProblem(item.value);
      if (problem) return { path: item.path, message: problem, expected: 'text without U+0000 or unpaired surrogates' };
    } else if (Array.isArray(item.value)) {
      item.value.forEach((element, i) => stack.push({ value: element, path: `${item.path}[${i}]` }));
    } else if (item.value !== null && typeof item.value === 'object') {
      for (const [key, element] of Object.entries(item.value)) {
        const keyPath = item.path === 'body' ? key : `${item.path}.${key}`;
        const keyProblem = textProblem(key);
        if (keyProblem) return { path: keyPath, message: `is a name that ${keyProblem}`, expected: 'names without U+0000 or unpaired surrogates' };
        stack.push({ value: element, path: keyPath });
      }
    }
  }
  return undefined;
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate, which is not Unicode text';
  return undefined;
}
