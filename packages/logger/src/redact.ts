export const REDACTED = '[redacted]';

/** Keys whose values are secrets wherever they appear in a log entry. */
const SECRET_KEY =
  /^(authorization|cookie|set-cookie|password|passwd|secret|token|api[_-]?key|credentials|.*_token|.*_secret|.*_password|.*_key|x-herald-signature|idempotency-key)$/i;

/** Secrets that hide inside ordinary strings: hook URLs, bearer headers, URL user-info. */
const SECRET_IN_TEXT: ReadonlyArray<[RegExp, string]> = [
  [/(\/hooks\/)[^/?#\s"']+/g, `$1${REDACTED}`],
  [/(bearer\s+)[^\s"',]+/gi, `$1${REDACTED}`],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"']*:)[^@/\s"']+@/gi, `$1${REDACTED}@`],
];

const MAX_DEPTH = 8;

export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_IN_TEXT) out = out.replace(pattern, replacement);
  return out;
}

/**
 * A copy of `value` with secrets replaced. Objects are copied rather than mutated because the
 * same object (a request, a config) may be used again after it was logged.
 */
export function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
  if (value instanceof Error) return redactError(value, depth, seen);
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : redact(child, depth + 1, seen);
  }
  return out;
}

/**
 * An error as a log field: name, message, stack, and its own scalar fields (code, errno,
 * constraint, …). Nested objects are left out: driver errors carry whole client objects
 * (pg attaches its connection, with parameters and buffers) that would flood the log.
 */
function redactError(error: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: redactText(error.message) };
  if (error.stack) out['stack'] = redactText(error.stack);
  for (const [key, child] of Object.entries(error)) {
    if (child !== null && typeof child === 'object' && !(child instanceof Error)) continue;
    out[key] = SECRET_KEY.test(key) ? REDACTED : redact(child, depth + 1, seen);
  }
  if (error.cause !== undefined) out['cause'] = redact(error.cause, depth + 1, seen);
  return out;
}
