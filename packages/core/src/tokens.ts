import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets Herald hands out: hook tokens (in the hook URL) and bot API tokens (Bearer, for hooks
 * not in direct mode). 32 random bytes — 256 bits, twice SPEC's minimum — base64url-encoded so
 * they are URL-safe. Bot tokens carry a prefix so secret scanners and people recognise them.
 */
const TOKEN_BYTES = 32;
const BODY = '[A-Za-z0-9_-]{43}';
const HOOK_TOKEN = new RegExp(`^${BODY}$`);
const BOT_TOKEN_PREFIX = 'hbt_';

export function generateHookToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function generateBotToken(): string {
  return BOT_TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Cheap shape check, so garbage never reaches the database. */
export function looksLikeHookToken(value: string): boolean {
  return HOOK_TOKEN.test(value);
}

/** Tokens are stored and looked up by this digest, never by the secret itself. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * What may be shown of a hook token once it is not shown any more: its last 4 characters (24
 * of 256 bits), enough for a person to tell two URLs apart, nothing to guess the rest with.
 */
export function hookTokenHint(token: string): string {
  return token.slice(-4);
}

/** Constant-time comparison of a presented token with a stored digest. */
export function tokenMatches(presented: string, storedDigest: Buffer): boolean {
  const digest = tokenDigest(presented);
  return digest.length === storedDigest.length && timingSafeEqual(digest, storedDigest);
}

/**
 * Constant-time equality of two secrets of any length (a signature, a verify token): their
 * digests are compared, so neither the content nor the length leaks through timing.
 */
export function secretsEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(tokenDigest(presented), tokenDigest(expected));
}

/**
 * `sha256=<hex HMAC-SHA256 of body>`: how Herald signs what it sends a custom endpoint
 * (`X-Herald-Signature`), how such an endpoint signs its reports back, and how Meta signs its
 * webhooks (`X-Hub-Signature-256`). Over the raw bytes, never a re-serialisation.
 */
export function sha256Signature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
