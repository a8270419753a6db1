import type { RequestHandler } from 'express';

/**
 * The headers every answer of every Herald process carries, probes, 404s and errors included:
 * nothing is sniffed into another type (a JSON error echoing input must never run as HTML), no
 * page may frame it (clickjacking of the console and the queue dashboard), and no Referer
 * leaks a path or query to another site. X-Frame-Options is for browsers that predate CSP's
 * frame-ancestors. A router that sets its own Content-Security-Policy (the console) replaces
 * this one, and must keep `frame-ancestors 'none'` in it.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
});

const entries = Object.entries(SECURITY_HEADERS);

/** Sets SECURITY_HEADERS; the first middleware of the app, so nothing answers without them. */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  for (const [name, value] of entries) res.setHeader(name, value);
  next();
};

/**
 * `Cache-Control: no-store`, for answers that carry secrets (hook_url, bot tokens, credential
 * names) or live data behind a key: no shared proxy or browser cache may keep a copy to replay.
 * A handler that sets its own Cache-Control (static files) overrides it.
 */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};
