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
  const nested = (error as { errors?: unknown; cause?: unknown });
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
 * Whether Postgres refused a statement for what it is — a constraint, a value, a limit, a
 * statement timeout — so that sending it again gives the same answer: the error carries a
 * SQLSTATE and is neither "Postgres unreachable" nor a lost race. Anything else (a network
 * failure, a bug in our code) is not: the caller retries, or fails loudly.
 */
export function isRefusedForGood(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return !isDatabaseUnavailable(error) && !isTransientConflict(error);
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
