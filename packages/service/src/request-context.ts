import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '@herald/logger';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Gives every request an id — the caller's `X-Request-Id` when it is sane, else a new one —
 * echoes it back, and hangs a child logger carrying it on `res.locals`.
 */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals['requestId'] = requestId;
    // Made on first use: most requests never log, and a child logger per request adds up.
    let child: Logger | undefined;
    Object.defineProperty(res.locals, 'logger', { get: () => (child ??= logger.child({ requestId })), enumerable: true });
    next();
  };
}

export function requestLogger(res: Response, fallback: Logger): Logger {
  return (res.locals['logger'] as Logger | undefined) ?? fallback;
}
