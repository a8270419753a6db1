/** The providers the fake speaks; `google_oauth` is RBM's token endpoint (`POST /token`). */
export const FAKE_PROVIDERS = ['whatsapp_cloud', 'messenger', 'twilio', 'telegram', 'google_rbm', 'google_oauth', 'custom'] as const;

export type FakeProvider = (typeof FAKE_PROVIDERS)[number];

/** A literal HTTP answer. An object body is sent as JSON, a string as is. */
export interface FakeResponse {
  kind: 'response';
  status: number;
  body: unknown;
  headers?: Readonly<Record<string, string>>;
}

/**
 * How the fake answers one request:
 * - `success`: the provider's real success body, but only for a request that passes the
 *   provider's own checks (credentials, required fields); one that does not gets the provider's
 *   auth or validation error, as the real API would answer it;
 * - `response`: exactly this (the error catalog `fakeErrors` is made of these);
 * - `rate_limit`: the provider's rate-limit error with a `Retry-After` header (Telegram also
 *   puts it in `parameters.retry_after`, as Telegram does);
 * - `server_error`: the provider's 5xx body;
 * - `slow`: waits, then answers `then`;
 * - `redirect`: a 3xx with a `Location` header;
 * - `destroy`: drops the connection without answering.
 * Every answer but `success` is served without looking at the request.
 */
export type FakeAnswer =
  | { kind: 'success' }
  | FakeResponse
  | { kind: 'rate_limit'; retryAfterSeconds: number }
  | { kind: 'server_error'; status: number }
  | { kind: 'slow'; delayMs: number; then: FakeAnswer }
  | { kind: 'redirect'; location: string; status: number }
  | { kind: 'destroy' };

const SUCCESS: FakeAnswer = Object.freeze({ kind: 'success' });

export const fakeAnswers = {
  success: SUCCESS,
  response: (status: number, body: unknown, headers?: Record<string, string>): FakeResponse => ({
    kind: 'response',
    status,
    body,
    ...(headers ? { headers } : {}),
  }),
  rateLimit: (retryAfterSeconds = 1): FakeAnswer => ({ kind: 'rate_limit', retryAfterSeconds }),
  serverError: (status = 500): FakeAnswer => ({ kind: 'server_error', status }),
  slow: (delayMs: number, then: FakeAnswer = SUCCESS): FakeAnswer => ({ kind: 'slow', delayMs, then }),
  redirect: (location: string, status = 302): FakeAnswer => ({ kind: 'redirect', location, status }),
  destroySocket: Object.freeze({ kind: 'destroy' }) as FakeAnswer,
} as const;
