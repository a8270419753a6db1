import { fakeErrors, twilioError } from '../catalog';
import { jsonResponse, withHeaders, type ParsedRequest, type ProviderRoute } from '../state';

const E164 = /^\+[1-9]\d{2,14}$/;

/**
 * Twilio Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, Basic auth
 * `AccountSid:AuthToken`, form-encoded `To`, `Body` and `From` or `MessagingServiceSid`.
 */
export const twilioRoute: ProviderRoute = {
  provider: 'twilio',
  match(path) {
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    return match ? [decodeURIComponent(match[1]!)] : null;
  },
  succeed(request, [accountSid], state) {
    const credentials = state.credentials.twilio;
    const basic = basicAuth(request);
    if (!basic || basic.user !== credentials.account_sid || basic.password !== credentials.auth_token || accountSid !== credentials.account_sid) {
      return fakeErrors.twilio.authenticate;
    }
    const form = request.form;
    if (!form) return twilioError(400, 21604, "A 'To' phone number is required.");
    const to = form['To'];
    const body = form['Body'];
    const from = form['From'];
    const messagingServiceSid = form['MessagingServiceSid'];
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) return twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!body) return twilioError(400, 21602, 'Message body is required.');
    if (!from && !messagingServiceSid) {
      return twilioError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message");
    }
    const sid = `SM${state.nextId().toString(16).padStart(32, '0')}`;
    const now = new Date().toUTCString().replace('GMT', '+0000');
    return jsonResponse(201, {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: from ?? null,
      messaging_service_sid: messagingServiceSid ?? null,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid,
      status: messagingServiceSid && !from ? 'accepted' : 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    });
  },
  rateLimited: (seconds) => withHeaders(fakeErrors.twilio.tooManyRequests, { 'Retry-After': String(seconds) }),
  serverError: (status) => (status === 500 ? fakeErrors.twilio.internalError : twilioError(status, 20503, 'Service unavailable')),
};

function basicAuth(request: ParsedRequest): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
