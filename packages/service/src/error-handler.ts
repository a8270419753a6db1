import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isAppError, MAX_CONTACT_VARIABLES, MAX_CONTACT_VARIABLES_BYTES } from '@herald/core';
import { isContactVariablesOverBound, isDatabaseUnavailable, isTransientConflict } from '@herald/db';
import type { Logger } from '@herald/logger';

/** Errors raised by Express's body parsers carry a `type`; these are the caller's fault. */
function fromBodyParser(error: unknown): AppError | undefined {
  if (!error || typeof error !== 'object' || !('type' in error)) return undefined;
  switch (error.type) {
    case 'entity.too.large': {
      const limit = (error as { limit?: number }).limit;
      return new AppError(413, 'payload_too_large', `Request body is larger than the limit${limit ? ` of ${limit} bytes` : ''}`);
    }
    case 'entity.parse.failed':
      return new AppError(400, 'bad_request', 'Request body is not valid JSON', [
        { path: 'body', message: (error as { message?: string }).message ?? 'unparseable', expected: 'a JSON document' },
      ]);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError(415, 'unsupported_media_type', 'Request body encoding or charset is not supported');
    case 'request.aborted':
    case 'request.size.invalid':
      return new AppError(400, 'bad_request', 'Request body was incomplete');
    default:
      return undefined;
  }
}

/** Database failures that are not bugs: the caller can retry, and should be told so. */
function fromDatabase(error: unknown): AppError | undefined {
  if (isDatabaseUnavailable(error)) {
    return new AppError(503, 'service_unavailable', 'The database is unavailable; nothing was changed, retry shortly', [], 5);
  }
  if (isTransientConflict(error)) {
    return new AppError(409, 'conflict', 'The request collided with concurrent work on the same rows and was rolled back; retry it');
  }
  if (isContactVariablesOverBound(error)) {
    return new AppError(400, 'validation_failed', 'A contact would have more variables than allowed; nothing was changed', [
      {
        path: 'variables',
        message: 'would pass the bound of a contact after the merge',
        expected: `at most ${MAX_CONTACT_VARIABLES} variables and ${MAX_CONTACT_VARIABLES_BYTES} bytes as stored`,
      },
    ]);
  }
  return undefined;
}

/**
 * The one error handler of every app: `AppError` → its status and JSON body; a database that
 * is down → 503 with Retry-After, a deadlock or serialization failure → 409 (both changed
 * nothing); anything else is a 500 whose body carries only an error id, with the details in
 * the log under that id.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const appError = isAppError(error) ? error : (fromBodyParser(error) ?? fromDatabase(error));
    if (appError) {
      if (appError.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(appError.retryAfterSeconds));
      res.status(appError.status).json(appError.toBody());
      return;
    }
    const errorId = randomUUID();
    logger.error('unhandled error', { errorId, requestId: res.locals['requestId'], error, method: req.method, path: req.path });
    res.status(500).json({
      error: { code: 'internal_error', message: `Internal error; reference ${errorId}`, details: [] },
    });
  };
}

/** JSON 404 for any route no router took. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError(404, 'not_found', `No route for ${req.method} ${req.path}`));
};
