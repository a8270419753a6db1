/**
 * One bad field of a request: where it is, what was wrong, and what was expected instead.
 * Every 4xx body of Herald lists these so a caller can fix all problems in one go.
 */
export interface ErrorDetail {
  path: string;
  message: string;
  expected?: string;
}

/** Machine-readable error codes. Callers branch on these, so they never change meaning. */
export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'service_unavailable'
  | 'internal_error';

/**
 * An expected failure with the HTTP status it maps to. Domain code throws or returns these;
 * the one error handler of each app turns them into `{"error":{code,message,details}}`.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    /** For 503s: when the caller may retry (sent as `Retry-After`). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: [...this.details] } };
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: ErrorDetail[] };
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
