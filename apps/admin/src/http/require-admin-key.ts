import type { RequestHandler } from 'express';
import { AppError, tokenDigest, tokenMatches } from '@herald/core';

/**
 * `Authorization: Bearer ${ADMIN_API_KEY}` on every /v1 route, compared in constant time (both
 * sides are hashed first, so not even the key's length leaks). Without a key — development
 * only; the config refuses that elsewhere — the API is open.
 */
export function requireAdminKey(adminApiKey: string | undefined): RequestHandler {
  if (!adminApiKey) return (_req, _res, next) => next();
  const expected = tokenDigest(adminApiKey);
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (match && tokenMatches(match[1]!, expected)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    next(new AppError(401, 'unauthorized', 'Send the admin API key as Authorization: Bearer <key>'));
  };
}
