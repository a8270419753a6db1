import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Gives every request an id — the caller's `X-Request-Id` when it is sane, else a new one —
 * echoes it back and keeps it on `res.locals.requestId`, where the error handler's log line
 * picks it up.
 */
export const requestContext: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  const requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', requestId);
  res.locals['requestId'] = requestId;
  next();
};
