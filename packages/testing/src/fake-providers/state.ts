import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FakeProvider, FakeResponse } from './answers';

/**
 * Valid credentials per provider, named as a channel connection names them, so a test puts
 * `fake.credentials.twilio` (or `fake.connectionFor('twilio')`) on its connection as is.
 */
export interface FakeCredentials {
  whatsapp_cloud: { access_token: string; phone_number_id: string };
  messenger: { page_access_token: string };
  twilio: { account_sid: string; auth_token: string; from: string };
  telegram: { bot_token: string };
  /** `service_account_json` is a Google service-account key whose `token_uri` is the fake's `/token`. */
  google_rbm: { service_account_json: string; agent_id: string };
  custom: { secret: string };
}

/** A request as the fake parsed it; the handlers and the recording both read this. */
export interface ParsedRequest {
  method: string;
  /** The path as sent (still percent-encoded), without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The body parsed as JSON when it was sent as JSON and parses. */
  json?: unknown;
  /** The body parsed as a form when it was sent `application/x-www-form-urlencoded`. */
  form?: Record<string, string>;
}

/** What the handlers share across requests of one fake. */
export interface FakeState {
  baseUrl: string;
  credentials: FakeCredentials;
  /** Verifies the RS256 assertions sent to `/token`. */
  rbmPublicKey: KeyObject;
  /** Access tokens issued by `/token` → when they expire (ms since epoch). */
  issuedTokens: Map<string, number>;
  /** RBM message ids already accepted: a repeat is answered 409 ALREADY_EXISTS, as RBM does. */
  rbmMessageIds: Set<string>;
  nextId(): number;
}

/** One provider's protocol: which paths are its, and how it answers. */
export interface ProviderRoute {
  provider: FakeProvider;
  /** The path's captures when the path is this provider's, else null. */
  match(path: string): string[] | null;
  /**
   * The answer to a request scripted to succeed: the provider's own checks first (credentials,
   * required fields), then its success body.
   */
  succeed(request: ParsedRequest, captures: string[], state: FakeState): FakeResponse;
  rateLimited(retryAfterSeconds: number): FakeResponse;
  serverError(status: number): FakeResponse;
}

export const RBM_SCOPE = 'https://www.googleapis.com/auth/rcsbusinessmessaging';

// An RSA key takes ~100 ms to generate: one per process is enough for every fake.
let rbmKeys: { privateKey: KeyObject; publicKey: KeyObject } | undefined;
function rbmKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  rbmKeys ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return rbmKeys;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const digits = (count: number) => Array.from(randomBytes(count), (byte, index) => (index === 0 ? 1 + (byte % 9) : byte % 10)).join('');

export function createFakeState(baseUrl: string): FakeState {
  const keys = rbmKeyPair();
  const projectId = 'herald-fake';
  const serviceAccount = {
    type: 'service_account',
    project_id: projectId,
    private_key_id: hex(20),
    private_key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: `herald-rbm@${projectId}.iam.gserviceaccount.com`,
    client_id: digits(21),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: `${baseUrl}/token`,
  };
  let counter = 0;
  return {
    baseUrl,
    credentials: {
      whatsapp_cloud: { access_token: `EAAG${hex(40)}`, phone_number_id: digits(15) },
      messenger: { page_access_token: `EAAB${hex(40)}` },
      twilio: { account_sid: `AC${hex(16)}`, auth_token: hex(16), from: '+15005550006' },
      telegram: { bot_token: `${digits(10)}:AA${randomBytes(25).toString('base64url').slice(0, 33)}` },
      google_rbm: { service_account_json: JSON.stringify(serviceAccount), agent_id: 'herald-fake-agent' },
      custom: { secret: hex(24) },
    },
    rbmPublicKey: keys.publicKey,
    issuedTokens: new Map(),
    rbmMessageIds: new Set(),
    nextId: () => ++counter,
  };
}

/** The token of an `Authorization: Bearer …` header, if any. */
export function bearerToken(request: ParsedRequest): string | undefined {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

export function withHeaders(response: FakeResponse, headers: Record<string, string>): FakeResponse {
  return { ...response, headers: { ...response.headers, ...headers } };
}

export function jsonResponse(status: number, body: unknown): FakeResponse {
  return { kind: 'response', status, body };
}
