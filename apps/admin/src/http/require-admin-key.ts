import type { RequestHandler } from 'express';
import { AppError, tokenDigest, tokenMatches } from '@herald/core';

export interface AdminKeyOptions {
  /** HTTP Basic with the key as the password, for what a browser logs in to (console, dashboard). */
  allowBasic?: boolean;
  /** Keys that may read but change nothing: GET and HEAD only (ADMIN_READ_ONLY_API_KEYS). */
  readOnlyKeys?: readonly string[];
}

/** Methods a read-only key may use: the console's pages and the API's GET routes. */
const READING = new Set(['GET', 'HEAD']);

/**
 * The admin key on every /v1 route, compared in constant time (both sides are hashed first, so
 * not even its length leaks): `Authorization: Bearer <key>`, or, where a browser must log in
 * (the queue dashboard), HTTP Basic with the key as the password. A read-only key passes for
 * GET and HEAD and gets 403 for anything else. Without a key (ADMIN_AUTH=disabled, served on
 * loopback only) everything is open.
 */
export function requireAdminKey(adminApiKey: string | undefined, { allowBasic = false, readOnlyKeys = [] }: AdminKeyOptions = {}): RequestHandler {
  if (!adminApiKey) return (_req, _res, next) => next();
  const expected = tokenDigest(adminApiKey);
  const readOnly = readOnlyKeys.map(tokenDigest);
  return (req, res, next) => {
    const presented = presentedKey(req.get('authorization') ?? '', allowBasic);
    if (presented !== undefined && tokenMatches(presented, expected)) {
      next();
      return;
    }
    // Every read-only key is compared, matched or not: the time taken says nothing of which.
    const readOnlyMatch = presented !== undefined && readOnly.reduce((found, digest) => tokenMatches(presented, digest) || found, false);
    if (readOnlyMatch) {
      next(READING.has(req.method) ? undefined : new AppError(403, 'forbidden', 'This key is read-only: it may read (GET) but not change anything'));
      return;
    }
    res.setHeader('WWW-Authenticate', allowBasic ? 'Basic realm="Herald", charset="UTF-8"' : 'Bearer');
    // Say which of the two it is: a key left over in a .env file (the Docker quick start
    // writes one) is the usual reason a caller who sent none meets this.
    next(
      new AppError(
        401,
        'unauthorized',
        presented === undefined
          ? "This admin API requires its key (the server's ADMIN_API_KEY, from its environment or its .env file): send Authorization: Bearer <key>"
          : "The key sent is not this server's ADMIN_API_KEY (from its environment or its .env file)",
      ),
    );
  };
}

function presentedKey(authorization: string, allowBasic: boolean): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer) return bearer[1];
  const basic = allowBasic ? /^Basic\s+(\S+)\s*$/i.exec(authorization) : null;
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}
