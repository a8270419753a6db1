/**
 * Whether an error means "Postgres cannot be reached right now" — the caller should retry
 * later (503 + Retry-After) — as opposed to a bug or a bad statement (500).
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
const SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
  '3D000', // the database does not exist (yet)
]);
const MESSAGES = [/timeout exceeded when trying to connect/i, /Connection terminated/i, /Client has encountered a connection error/i];

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const code = (error as { code?: unknown }).code;
  // Class 08 is the connection's, except 08P01 (protocol violation): a statement the server
  // refuses as sent (e.g. more than 65,535 bind parameters) fails the same way every time.
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATES.has(code) || (code.startsWith('08') && code !== '08P01'))) return true;
  const message = (error as { message?: unknown }).message;
  if (typeof message === 'string' && MESSAGES.some((pattern) => pattern.test(message))) return true;
  // pg wraps some failures (e.g. AggregateError from dual-stack connects) without a code.
  const nested = error as { errors?: unknown; cause?: unknown };
  if (Array.isArray(nested.errors) && nested.errors.some(isDatabaseUnavailable)) return true;
  return nested.cause !== undefined && nested.cause !== error && isDatabaseUnavailable(nested.cause);
}

/**
 * Whether a statement lost a race with concurrent work and was rolled back — a deadlock, a
 * serialization failure, a lock it was told not to wait for. Nothing was changed; the same
 * request can simply be sent again (409 for an API caller, a retry for a job).
 */
const TRANSIENT_CONFLICTS = new Set(['40P01', '40001', '55P03']);

export function isTransientConflict(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT_CONFLICTS.has(code);
}

/**
 * Whether Postgres refused a statement for what it is, so that sending it again gives the same
 * answer. An allow-list, because marking a trigger failed loses its call for good: a value or
 * a constraint (classes 21, 22, 23), a limit (54: too many parameters, a row too big), an
 * error raised by a database trigger (P0001), the statement timeout (57014 — not a cancel by
 * an operator, which shares the code), and a bind message the server cannot take (08P01 with
 * "bind message", e.g. more than 65,535 parameters: the hook's MAX_FILTERS now stops such a
 * call at the door; this is for what was accepted before, or what a bound misses). Anything else — Postgres unreachable or
 * short of resources, a lost race, a table missing during a deploy, a bug of ours — is not:
 * the caller retries, or fails loudly.
 */
const REFUSED_CLASSES = new Set(['21', '22', '23', '54']);

export function isRefusedForGood(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return false;
  const text = typeof message === 'string' ? message : '';
  if (REFUSED_CLASSES.has(code.slice(0, 2)) || code === 'P0001') return true;
  if (code === '57014') return /statement timeout/i.test(text);
  if (code === '08P01') return /bind message/i.test(text);
  return false;
}

/** A refused statement's error in a line for an operator: its message and SQLSTATE, never its `detail` (which can hold a whole row). */
export function describeRefusal(error: unknown): string {
  const { message, code } = error as { message?: unknown; code?: unknown };
  const text = typeof message === 'string' ? message.slice(0, 500) : 'unknown error';
  return typeof code === 'string' ? `${text} (SQLSTATE ${code})` : text;
}

/** A write that would take a contact past its variables bound (migration 0600): the caller's data, not a fault. */
export function isContactVariablesOverBound(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23514' && constraint === 'contacts_variables_bounded';
}
