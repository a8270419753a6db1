import type { FakeResponse } from './answers';

/**
 * Real error bodies per provider, as their APIs send them (status, shape, code, wording), so
 * the adapters' classification is tested against what production will see. Meta answers many
 * throttling errors with HTTP 400: the code in the body is what tells them apart.
 */

const FBTRACE_ID = 'AZq3fakeTrace0Herald';

function response(status: number, body: unknown, headers?: Record<string, string>): FakeResponse {
  return Object.freeze({ kind: 'response', status, body: deepFreeze(body), ...(headers ? { headers } : {}) });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

interface GraphErrorFields {
  message: string;
  code: number;
  type?: string;
  subcode?: number;
  /** WhatsApp Cloud API errors carry `error_data.details`. */
  details?: string;
  isTransient?: boolean;
}

/** A Graph API error body (WhatsApp Cloud API and Messenger Send API). */
export function graphError(status: number, fields: GraphErrorFields): FakeResponse {
  return response(status, {
    error: {
      message: fields.message,
      type: fields.type ?? 'OAuthException',
      code: fields.code,
      ...(fields.subcode !== undefined ? { error_subcode: fields.subcode } : {}),
      ...(fields.details !== undefined ? { error_data: { messaging_product: 'whatsapp', details: fields.details } } : {}),
      ...(fields.isTransient !== undefined ? { is_transient: fields.isTransient } : {}),
      fbtrace_id: FBTRACE_ID,
    },
  });
}

/** A Twilio REST error body. */
export function twilioError(status: number, code: number, message: string): FakeResponse {
  return response(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

/** A Telegram Bot API error body (HTTP status and `error_code` agree). */
export function telegramError(status: number, description: string, retryAfterSeconds?: number): FakeResponse {
  return response(
    status,
    {
      ok: false,
      error_code: status,
      description,
      ...(retryAfterSeconds !== undefined ? { parameters: { retry_after: retryAfterSeconds } } : {}),
    },
    retryAfterSeconds !== undefined ? { 'Retry-After': String(retryAfterSeconds) } : undefined,
  );
}

/** A Google API error body (RBM): `{error:{code,message,status}}`. */
export function googleError(status: number, grpcStatus: string, message: string): FakeResponse {
  return response(status, { error: { code: status, message, status: grpcStatus } });
}

/** An OAuth2 token endpoint error body (Google's `oauth2.googleapis.com/token`). */
export function oauthError(status: number, error: string, description: string): FakeResponse {
  return response(status, { error, error_description: description });
}

export const fakeErrors = {
  whatsapp_cloud: {
    invalidToken: graphError(401, {
      code: 190,
      message: 'Invalid OAuth access token - Cannot parse access token',
    }),
    rateLimitHit: graphError(400, {
      code: 130429,
      message: '(#130429) Rate limit hit',
      details: 'Cloud API message throughput has been reached.',
    }),
    pairRateLimit: graphError(400, {
      code: 131056,
      message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
      details: 'Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.',
    }),
    somethingWentWrong: graphError(500, {
      code: 131000,
      message: 'Something went wrong',
      details: 'Message failed to send due to an unknown error.',
    }),
    tooManyCalls: graphError(400, { code: 4, message: '(#4) Application request limit reached' }),
    rateLimitIssues: graphError(400, {
      code: 80007,
      message: '(#80007) Rate limit issues',
      details: 'The WhatsApp Business Account has reached its rate limit.',
    }),
    undeliverable: graphError(400, {
      code: 131026,
      message: '(#131026) Message undeliverable',
      details:
        'Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; the recipient has not accepted our new Terms of Service and Privacy Policy.',
    }),
    reEngagement: graphError(400, {
      code: 131047,
      message: '(#131047) Re-engagement message',
      details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
    }),
    stoppedMarketing: graphError(400, {
      code: 131050,
      message: '(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business',
      details: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business',
    }),
    invalidParameter: graphError(400, {
      code: 100,
      message: '(#100) Invalid parameter',
      details: 'Parameter value is not valid',
    }),
  },
  messenger: {
    invalidToken: graphError(401, {
      code: 190,
      message: 'Invalid OAuth access token - Cannot parse access token',
    }),
    temporarySendFailure: graphError(500, {
      code: 1200,
      message: 'Temporary send message failure. Please try again later',
      isTransient: true,
    }),
    rateLimit: graphError(400, { code: 613, message: '(#613) Calls to this api have exceeded the rate limit.' }),
    serviceUnavailable: graphError(500, {
      code: 2,
      message: 'An unexpected error has occurred. Please retry your request later.',
      isTransient: true,
    }),
    appRateLimit: graphError(400, { code: 4, message: '(#4) Application request limit reached' }),
    personUnavailable: graphError(400, {
      code: 551,
      subcode: 1545041,
      message: "(#551) This person isn't available right now.",
    }),
    outsideWindow: graphError(400, {
      code: 10,
      subcode: 2018278,
      message:
        '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview',
    }),
    invalidParameter: graphError(400, { code: 100, subcode: 2018001, message: '(#100) No matching user found' }),
  },
  twilio: {
    authenticate: twilioError(401, 20003, 'Authenticate'),
    tooManyRequests: twilioError(429, 20429, 'Too Many Requests'),
    invalidTo: twilioError(400, 21211, "The 'To' number +1555 is not a valid phone number."),
    unsubscribed: twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'),
    cannotRoute: twilioError(400, 21612, "The 'To' phone number is not currently reachable using the 'From' phone number via SMS."),
    notMobile: twilioError(400, 21614, "'To' number is not a valid mobile number"),
    internalError: twilioError(500, 20500, 'An internal server error has occurred'),
    serviceUnavailable: twilioError(503, 20503, 'Service unavailable'),
  },
  telegram: {
    tooManyRequests: telegramError(429, 'Too Many Requests: retry after 5', 5),
    blocked: telegramError(403, 'Forbidden: bot was blocked by the user'),
    userDeactivated: telegramError(403, 'Forbidden: user is deactivated'),
    chatNotFound: telegramError(400, 'Bad Request: chat not found'),
    textEmpty: telegramError(400, 'Bad Request: message text is empty'),
    unauthorized: telegramError(401, 'Unauthorized'),
    /** What Telegram answers for a malformed token in the path (`/bot<garbage>/…`). */
    notFound: telegramError(404, 'Not Found'),
    internalError: telegramError(500, 'Internal Server Error'),
  },
  google_rbm: {
    notFound: googleError(404, 'NOT_FOUND', 'Requested entity was not found.'),
    resourceExhausted: googleError(
      429,
      'RESOURCE_EXHAUSTED',
      "Quota exceeded for quota metric 'Agent messages' and limit 'Agent messages per minute per agent'.",
    ),
    unauthenticated: googleError(
      401,
      'UNAUTHENTICATED',
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    ),
    permissionDenied: googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission'),
    invalidArgument: googleError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'),
    alreadyExists: googleError(409, 'ALREADY_EXISTS', 'Requested entity already exists'),
    internal: googleError(500, 'INTERNAL', 'Internal error encountered.'),
    unavailable: googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.'),
  },
  google_oauth: {
    invalidSignature: oauthError(400, 'invalid_grant', 'Invalid JWT Signature.'),
    invalidClient: oauthError(401, 'invalid_client', 'The OAuth client was not found.'),
    unsupportedGrantType: oauthError(400, 'unsupported_grant_type', 'Invalid grant_type'),
  },
  custom: {
    unauthorized: response(401, { error: 'invalid signature' }),
    forbidden: response(403, { error: 'forbidden' }),
    badRequest: response(400, { error: 'unknown contact' }),
    tooManyRequests: response(429, { error: 'slow down' }, { 'Retry-After': '2' }),
    unavailable: response(503, 'Service Unavailable', { 'Content-Type': 'text/plain' }),
  },
} as const satisfies Record<string, Record<string, FakeResponse>>;
