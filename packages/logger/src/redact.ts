export const REDACTED = '[redacted]';

/**
 * Key endings whose values are secrets wherever they appear in a log entry. Keys are compared
 * lower-cased and without `_`, `-` and spaces, so `hookToken`, `hook_token`, `HOOK-TOKEN` are one
 * key; the headers follow: `x-api-key`, `proxy-authorization`, `set-cookie`, `x-twilio-signature`,
 * `x-hub-signature-256`, `x-telegram-bot-api-secret-token`, …
 */
const SECRET_KEY_ENDING =
  /(?:tokens?|secrets?|passwords?|passwd|apikeys?|authorization|signature(?:256)?|cookies?|credentials?|privatekey|serviceaccountjson)$/;
/** `key` as a word of its own (`signing_key`, `idempotency-key`, `encryptionKey`), not `monkey` nor a bare `key`. */
const KEY_WORD = /[-_\s]key$/i;
const CAMEL_KEY_WORD = /[a-z\d]Key$/;

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

function isSecretKey(key: string): boolean {
  return SECRET_KEY_ENDING.test(normaliseKey(key)) || KEY_WORD.test(key) || CAMEL_KEY_WORD.test(key);
}

/** Query or form parameters carrying secrets: `access_token`, `hub.verify_token`, `client_secret`, `X-Amz-Signature`, Google's `key`. */
const SECRET_PARAM = /token|secret|signature|passw(?:or)?d|api_?key|credential|^(?:key|sig)$/i;

/**
 * Secrets that hide inside ordinary strings (error messages, URLs, stacks); only the secret part
 * is replaced. No pattern has two quantifiers that can take the same characters, and each
 * starts on a literal or a word boundary, so a failed attempt costs one pass over the run it
 * scanned and the work stays linear in the length of the text.
 */
const SECRET_IN_TEXT: ReadonlyArray<[RegExp, string]> = [
  // URL user-info `scheme://user:password@host`. Both runs stop at `/`, so the scans started at
  // successive `://` never overlap (the old `\b[a-z][a-z0-9+.-]*://…` rescanned `a.a.a.…` from every letter).
  [/(:\/\/[^:/@\s"']*:)[^/@\s"']+@/g, `$1${REDACTED}@`],
  // Telegram bot tokens, in API paths (`/bot123:AAH…/sendMessage`, `:` maybe percent-encoded) or bare.
  [/\bbot\d+(?::|%3a)[\w-]+/gi, `bot${REDACTED}`],
  [/(\/hooks\/)[^/?#\s"']+/g, `$1${REDACTED}`],
  // `Authorization: Bearer …` and `Basic <base64 of user:password>`.
  [/\b((?:bearer|basic)\s+)[^\s"',]+/gi, `$1${REDACTED}`],
];

/**
 * `?access_token=…`, `&client_secret=…`: any `name=value`, the value replaced when the name is
 * a secret's. The value stops at `?` so that a URL in a harmless parameter
 * (`redirect_uri=https://…?access_token=…`) is still looked into.
 */
const PARAM_IN_TEXT = /\b(\w+)=[^&#?\s"'<>]*/g;

/**
 * A URL password that the length limit cut off has lost the `@` that gives it away: at the cut,
 * the end of the text stands for it.
 */
const CUT_USER_INFO = /(:\/\/[^:/@\s"']*:)[^/@\s"']+$/;

/**
 * Longest string logged. The rest is dropped before any pattern runs, which bounds the work per
 * string and keeps a request body or a stack of a megabyte from flooding the log.
 */
const MAX_TEXT_LENGTH = 8 * 1024;

const MAX_DEPTH = 8;

export function redactText(text: string): string {
  const cut = text.length > MAX_TEXT_LENGTH;
  let out = cut ? text.slice(0, MAX_TEXT_LENGTH) : text;
  for (const [pattern, replacement] of SECRET_IN_TEXT) out = out.replace(pattern, replacement);
  out = out.replace(PARAM_IN_TEXT, (param, name: string) => (SECRET_PARAM.test(name) ? `${name}=${REDACTED}` : param));
  return cut ? `${out.replace(CUT_USER_INFO, `$1${REDACTED}`)}… [${text.length - MAX_TEXT_LENGTH} more characters]` : out;
}

/**
 * Fields of a Postgres error that quote data: `detail` holds the failing row (`Key (phone)=(+1…)
 * already exists`), `where` the statement context (for COPY, the line and its values),
 * `internalQuery` the text of a query run by a function. Code, message, constraint, table and
 * column still say what failed.
 */
const PG_DATA_FIELDS = new Set(['detail', 'where', 'internalQuery']);

/** pg's DatabaseError, or a copy of its fields (winston spreads an error logged as metadata onto the entry). */
function isPgError(value: object): boolean {
  const { code, severity } = value as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && code.length === 5 && typeof severity === 'string';
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
  return redactFields(value, {}, depth, seen);
}

/**
 * An error as a log field: name, message, stack, and its own scalar fields (code, errno,
 * constraint, …). Nested objects are left out: driver errors carry whole client objects
 * (pg attaches its connection, with parameters and buffers) that would flood the log.
 */
function redactError(error: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: redactText(error.message) };
  if (error.stack) out['stack'] = redactText(error.stack);
  redactFields(error, out, depth, seen, (child) => child !== null && typeof child === 'object' && !(child instanceof Error));
  if (error.cause !== undefined) out['cause'] = redact(error.cause, depth + 1, seen);
  return out;
}

/** Copies the own fields of `source` into `out`, redacted, without those `leaveOut` names or a Postgres error's data. */
function redactFields(
  source: object,
  out: Record<string, unknown>,
  depth: number,
  seen: WeakSet<object>,
  leaveOut: (child: unknown) => boolean = () => false,
): Record<string, unknown> {
  const pg = isPgError(source);
  for (const [key, child] of Object.entries(source)) {
    if ((pg && PG_DATA_FIELDS.has(key)) || leaveOut(child)) continue;
    out[key] = isSecretKey(key) ? REDACTED : redact(child, depth + 1, seen);
  }
  return out;
}
