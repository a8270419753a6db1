import { randomBytes, verify } from 'node:crypto';
import { fakeErrors, googleError, oauthError } from '../catalog';
import { RBM_SCOPE, bearerToken, isObject, jsonResponse, withHeaders, type FakeState, type ParsedRequest, type ProviderRoute } from '../state';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_LIFETIME_SECONDS = 3600;
/** Google tolerates this much clock skew on `iat`/`exp`. */
const SKEW_SECONDS = 300;

/**
 * Google's OAuth2 token endpoint for service accounts: `POST /token`, form
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`. The JWT is
 * verified against the public half of the key in `fake.credentials.google_rbm`.
 */
export const googleOauthRoute: ProviderRoute = {
  provider: 'google_oauth',
  match: (path) => (path === '/token' ? [] : null),
  succeed(request, _captures, state) {
    const form = request.form;
    if (form?.['grant_type'] !== JWT_BEARER) return fakeErrors.google_oauth.unsupportedGrantType;
    const problem = assertionProblem(form['assertion'] ?? '', state);
    if (problem) return oauthError(400, 'invalid_grant', problem);
    const accessToken = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    state.issuedTokens.set(accessToken, Date.now() + TOKEN_LIFETIME_SECONDS * 1000);
    return jsonResponse(200, { access_token: accessToken, expires_in: TOKEN_LIFETIME_SECONDS, token_type: 'Bearer' });
  },
  rateLimited: (seconds) => withHeaders(oauthError(429, 'rate_limit_exceeded', 'Rate limit exceeded'), { 'Retry-After': String(seconds) }),
  serverError: (status) => oauthError(status, 'internal_failure', 'Backend Error'),
};

/** What is wrong with a service-account assertion, in Google's words, or undefined. */
function assertionProblem(assertion: string, state: FakeState): string | undefined {
  const parts = assertion.split('.');
  if (parts.length !== 3) return 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.';
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  if (!isObject(header) || header['alg'] !== 'RS256') return 'Invalid JWT Signature.';
  const signed = verify('RSA-SHA256', Buffer.from(`${headerPart}.${claimsPart}`), state.rbmPublicKey, Buffer.from(signaturePart, 'base64url'));
  if (!signed) return 'Invalid JWT Signature.';
  const claims = decodeJson(claimsPart);
  const account = JSON.parse(state.credentials.google_rbm.service_account_json) as Record<string, string>;
  if (!isObject(claims) || claims['iss'] !== account['client_email']) return 'Invalid JWT: No issuer.';
  if (claims['aud'] !== account['token_uri']) {
    return `Invalid JWT: Failed audience check. The right audience is ${account['token_uri']}`;
  }
  if (typeof claims['scope'] !== 'string' || !claims['scope'].split(' ').includes(RBM_SCOPE)) {
    return 'Invalid OAuth scope or ID token audience provided.';
  }
  const now = Date.now() / 1000;
  const iat = claims['iat'];
  const exp = claims['exp'];
  if (typeof iat !== 'number' || typeof exp !== 'number' || iat > now + SKEW_SECONDS || exp < now - SKEW_SECONDS) {
    return 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
  }
  if (exp - iat > TOKEN_LIFETIME_SECONDS) return 'Invalid JWT: Token must be a short-lived token (60 minutes).';
  return undefined;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Google RBM: `POST /v1/phones/{+E.164}/agentMessages?messageId=…&agentId=…`, a Bearer token
 * from `/token`, JSON `{contentMessage:{…}}`. A `messageId` seen before is answered 409
 * ALREADY_EXISTS: RBM ignores a repeated message, which is what makes a resend safe.
 */
export const googleRbmRoute: ProviderRoute = {
  provider: 'google_rbm',
  match(path) {
    const match = /^\/v1\/phones\/([^/]+)\/agentMessages$/.exec(path);
    return match ? [decodeURIComponent(match[1]!)] : null;
  },
  succeed(request, [phone], state) {
    const token = bearerToken(request);
    const expiresAt = token ? state.issuedTokens.get(token) : undefined;
    if (expiresAt === undefined || expiresAt <= Date.now()) return fakeErrors.google_rbm.unauthenticated;
    if (request.query['agentId'] !== state.credentials.google_rbm.agent_id) return fakeErrors.google_rbm.permissionDenied;
    const messageId = request.query['messageId'];
    if (!messageId || !/^\+[1-9]\d{2,14}$/.test(phone!) || !hasContent(request)) return fakeErrors.google_rbm.invalidArgument;
    if (state.rbmMessageIds.has(messageId)) return fakeErrors.google_rbm.alreadyExists;
    state.rbmMessageIds.add(messageId);
    return jsonResponse(200, {
      name: `phones/${phone}/agentMessages/${messageId}`,
      sendTime: new Date().toISOString(),
      contentMessage: (request.json as Record<string, unknown>)['contentMessage'],
    });
  },
  rateLimited: (seconds) => withHeaders(fakeErrors.google_rbm.resourceExhausted, { 'Retry-After': String(seconds) }),
  serverError: (status) =>
    status === 500 ? fakeErrors.google_rbm.internal : status === 503 ? fakeErrors.google_rbm.unavailable : googleError(status, 'UNKNOWN', 'Unknown error.'),
};

function hasContent(request: ParsedRequest): boolean {
  const body = request.json;
  if (!isObject(body) || !isObject(body['contentMessage'])) return false;
  const content = body['contentMessage'];
  return typeof content['text'] === 'string' ? content['text'].length > 0 : Object.keys(content).length > 0;
}
