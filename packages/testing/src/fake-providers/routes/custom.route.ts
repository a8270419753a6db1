import { createHmac, timingSafeEqual } from 'node:crypto';
import { fakeErrors } from '../catalog';
import { isObject, jsonResponse, nonEmptyString, withHeaders, type ProviderRoute } from '../state';

/**
 * A customer's own endpoint (SPEC §4): `POST /custom/{anything}`, the delivery as JSON, signed
 * `X-Herald-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with `fake.credentials.custom.secret`.
 */
export const customRoute: ProviderRoute = {
  provider: 'custom',
  match: (path) => (path === '/custom' || path.startsWith('/custom/') ? [path.slice('/custom'.length)] : null),
  succeed(request, _captures, state) {
    const expected = `sha256=${createHmac('sha256', state.credentials.custom.secret).update(request.rawBody).digest('hex')}`;
    const given = request.headers['x-herald-signature'];
    if (typeof given !== 'string' || !sameText(given, expected)) return fakeErrors.custom.unauthorized;
    const body = request.json;
    if (
      !isObject(body) ||
      !nonEmptyString(body['delivery_id']) ||
      typeof body['text'] !== 'string' ||
      !isObject(body['contact']) ||
      !nonEmptyString(body['contact']['user_id'])
    ) {
      return fakeErrors.custom.badRequest;
    }
    // An endpoint's own id for the message, as a real one would answer: Herald keeps it.
    return jsonResponse(200, { ok: true, id: `custom-${body['delivery_id']}` });
  },
  rateLimited: (seconds) => withHeaders(jsonResponse(429, { error: 'slow down' }), { 'Retry-After': String(seconds) }),
  serverError: (status) => ({
    kind: 'response',
    status,
    body: 'Internal Server Error',
    headers: { 'Content-Type': 'text/plain' },
  }),
};

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
