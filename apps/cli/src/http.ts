import { UnreachableError } from './errors';

/** A JSON call that has not answered in this long is not going to: report it rather than hang. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpAnswer {
  status: number;
  statusText: string;
  body: string;
}

/**
 * One request with global fetch, read to the end. Only a failure to talk to the server throws
 * here (as UnreachableError, exit 3); every answer, 4xx and 5xx included, is returned for the
 * caller to judge, because only it knows what a 404 means (no such run, or a rotated hook).
 */
export async function send(url: URL, init: RequestInit, whereHint: string): Promise<HttpAnswer> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return { status: response.status, statusText: response.statusText, body: await response.text() };
  } catch (error) {
    throw unreachable(error, url, whereHint);
  }
}

/**
 * A failure to reach `url` in words: the system error code (ECONNREFUSED, ENOTFOUND, …) is the
 * useful part, and fetch hides it under `cause` (under `cause.errors` when several addresses
 * were tried).
 */
export function unreachable(error: unknown, url: URL, whereHint: string): UnreachableError {
  const where = url.origin;
  if ((error as { name?: string }).name === 'TimeoutError') {
    return new UnreachableError(`no answer from ${where} within ${REQUEST_TIMEOUT_MS / 1000} s`, { hint: whereHint });
  }
  const code = networkErrorCode(error);
  // fetch's own message is only "fetch failed"; the cause says what (ECONNREFUSED, "bad port").
  const reason = code ?? (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
  const broke = code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET';
  return new UnreachableError(broke ? `the connection to ${where} broke before it answered (${reason})` : `cannot reach ${where} (${reason})`, {
    hint: whereHint,
  });
}

export function networkErrorCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 4; depth++) {
    const { code, errors, cause } = current as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof code === 'string') return code;
    const first = Array.isArray(errors) ? (errors[0] as { code?: unknown } | undefined) : undefined;
    if (typeof first?.code === 'string') return first.code;
    current = cause;
  }
  return undefined;
}
