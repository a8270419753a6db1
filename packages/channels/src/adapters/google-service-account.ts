import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { OutboundHttp, SendResult } from '../adapter';
import { connectionFault, exchange, isRecord, isSuccess, parseJson, retry, retryAfterMs } from './outcomes';

/**
 * OAuth2 access tokens for a Google service account (the JWT-bearer grant google-auth-library
 * uses): an RS256 JWT signed with the account's key, exchanged at its `token_uri` through the
 * same outbound client as every send (so the destination policy applies to it too).
 *
 * Tokens are cached per connection until 60 s before they expire. The cache key includes a hash
 * of the key file, so a connection whose key was changed never gets the old key's token.
 */

const TOKEN_LIFETIME_SECONDS = 3600;
const REFRESH_MARGIN_MS = 60_000;

export interface ServiceAccount {
  clientEmail: string;
  privateKey: KeyObject;
  privateKeyId: string | undefined;
  tokenUri: string;
}

/** The parsed key file, or what is wrong with it (never a part of the key). */
export function parseServiceAccount(json: string): ServiceAccount | { problem: string } {
  const parsed = parseJson(json);
  if (!isRecord(parsed)) return { problem: 'service_account_json is not a JSON object' };
  const { client_email: clientEmail, private_key: privateKey, token_uri: tokenUri, private_key_id: keyId } = parsed;
  const missing = [
    typeof clientEmail === 'string' && clientEmail ? null : 'client_email',
    typeof privateKey === 'string' && privateKey ? null : 'private_key',
    typeof tokenUri === 'string' && tokenUri ? null : 'token_uri',
  ].filter((name) => name !== null);
  if (missing.length > 0) return { problem: `service_account_json lacks ${missing.join(', ')}` };
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKey as string);
  } catch {
    return { problem: 'service_account_json private_key is not a readable PEM key' };
  }
  if (key.asymmetricKeyType !== 'rsa') return { problem: 'service_account_json private_key is not an RSA key' };
  return {
    clientEmail: clientEmail as string,
    privateKey: key,
    privateKeyId: typeof keyId === 'string' ? keyId : undefined,
    tokenUri: tokenUri as string,
  };
}

/** Parsed key files by connection id: reading a PEM key on every send would cost more than the send. */
const parsedKeys = new Map<string, { keyFile: string; parsed: ServiceAccount | { problem: string } }>();

/** `parseServiceAccount`, remembered per connection until its key file changes. */
export function serviceAccountFor(connectionId: string, keyFile: string): ServiceAccount | { problem: string } {
  const known = parsedKeys.get(connectionId);
  if (known?.keyFile === keyFile) return known.parsed;
  const parsed = parseServiceAccount(keyFile);
  parsedKeys.set(connectionId, { keyFile, parsed });
  return parsed;
}

/** A signed service-account assertion for these scopes, valid one hour from `nowSeconds`. */
export function signAssertion(account: ServiceAccount, scope: string, nowSeconds: number): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = { alg: 'RS256', typ: 'JWT', ...(account.privateKeyId ? { kid: account.privateKeyId } : {}) };
  const claims = {
    iss: account.clientEmail,
    scope,
    aud: account.tokenUri,
    iat: nowSeconds,
    exp: nowSeconds + TOKEN_LIFETIME_SECONDS,
  };
  const unsigned = `${encode(header)}.${encode(claims)}`;
  return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), account.privateKey).toString('base64url')}`;
}

interface CachedToken {
  keyHash: string;
  accessToken: string;
  /** When to stop serving it: its expiry minus the refresh margin. */
  refreshAt: number;
}

/** By connection id: one entry per connection, replaced when its key changes. */
const tokens = new Map<string, CachedToken>();
/** Token requests under way, by connection id + key hash, so concurrent sends fetch once. */
const fetching = new Map<string, Promise<TokenOutcome>>();

export type TokenOutcome = { accessToken: string; cached: boolean } | { result: SendResult };

export interface TokenRequest {
  connectionId: string;
  /** The raw `service_account_json`: its hash keys the cache. */
  keyFile: string;
  account: ServiceAccount;
  scope: string;
  http: OutboundHttp;
}

/** A valid access token (from the cache when it has one), or how getting one failed. */
export function accessToken(request: TokenRequest): Promise<TokenOutcome> {
  const keyHash = createHash('sha256').update(request.keyFile).update('\0').update(request.scope).digest('hex');
  const cached = tokens.get(request.connectionId);
  if (cached && cached.keyHash === keyHash && cached.refreshAt > Date.now()) {
    return Promise.resolve({ accessToken: cached.accessToken, cached: true });
  }
  const flightKey = `${request.connectionId}\0${keyHash}`;
  const underWay = fetching.get(flightKey);
  if (underWay) return underWay;
  // exchange classifies every network failure; a throw left (signing) must not leave the entry behind.
  const fetched = fetchToken(request)
    .catch((error: unknown) => ({ result: retry('token_error', `token request failed: ${String(error)}`) }))
    .then((outcome): TokenOutcome => {
      fetching.delete(flightKey);
      if ('result' in outcome) return outcome;
      tokens.set(request.connectionId, { keyHash, accessToken: outcome.accessToken, refreshAt: outcome.refreshAt });
      return { accessToken: outcome.accessToken, cached: false };
    });
  fetching.set(flightKey, fetched);
  return fetched;
}

/** Forgets a connection's token (the API rejected it: revoked, or expired early). */
export function forgetAccessToken(connectionId: string): void {
  tokens.delete(connectionId);
}

async function fetchToken(request: TokenRequest): Promise<{ accessToken: string; refreshAt: number } | { result: SendResult }> {
  const now = Date.now();
  const sent = await exchange(request.http, {
    method: 'POST',
    url: request.account.tokenUri,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: signAssertion(request.account, request.scope, Math.floor(now / 1000)),
    }).toString(),
  });
  if ('result' in sent) return sent;
  const { response } = sent;
  const body = parseJson(response.body);
  if (isSuccess(response)) {
    const token = isRecord(body) ? body['access_token'] : undefined;
    const expiresIn = isRecord(body) && typeof body['expires_in'] === 'number' ? body['expires_in'] : TOKEN_LIFETIME_SECONDS;
    if (typeof token !== 'string' || !token) {
      return { result: connectionFault('token_invalid_response', 'the token endpoint answered without an access_token') };
    }
    return { accessToken: token, refreshAt: now + expiresIn * 1000 - REFRESH_MARGIN_MS };
  }
  const error = isRecord(body) && typeof body['error'] === 'string' ? body['error'] : `http_${response.status}`;
  const description = isRecord(body) && typeof body['error_description'] === 'string' ? body['error_description'] : '';
  const message = `token request refused: ${error}${description ? ` (${description})` : ''}`;
  // The token endpoint being busy or down is temporary; a refused grant is the key's fault.
  if (response.status === 429 || response.status >= 500) {
    return { result: retry(error, message, { retryAfterMs: retryAfterMs(response) }) };
  }
  return { result: connectionFault(error, message) };
}
