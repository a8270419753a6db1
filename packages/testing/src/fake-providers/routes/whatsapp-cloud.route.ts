import type { FakeResponse } from '../answers';
import { fakeErrors, graphError } from '../catalog';
import { bearerToken, isObject, jsonResponse, nonEmptyString, withHeaders, type ParsedRequest, type ProviderRoute } from '../state';

/** Meta WhatsApp Cloud API: `POST /{version}/{phone_number_id}/messages`, Bearer token, JSON. */
export const whatsappCloudRoute: ProviderRoute = {
  provider: 'whatsapp_cloud',
  match(path) {
    const match = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/.exec(path);
    return match ? [match[1]!, decodeURIComponent(match[2]!)] : null;
  },
  succeed(request, [, phoneNumberId], state) {
    const credentials = state.credentials.whatsapp_cloud;
    if (bearerToken(request) !== credentials.access_token) return fakeErrors.whatsapp_cloud.invalidToken;
    if (phoneNumberId !== credentials.phone_number_id) {
      return graphError(400, {
        code: 100,
        subcode: 33,
        type: 'GraphMethodException',
        message: `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      });
    }
    const to = checkMessage(request);
    if (typeof to !== 'string') return to;
    return jsonResponse(200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: to, wa_id: to.replace(/\D/g, '') }],
      messages: [{ id: `wamid.HBgL${state.nextId().toString(16).padStart(12, '0')}FAKE` }],
    });
  },
  rateLimited: (seconds) => withHeaders(fakeErrors.whatsapp_cloud.rateLimitHit, { 'Retry-After': String(seconds) }),
  serverError: (status) =>
    status === 500
      ? fakeErrors.whatsapp_cloud.somethingWentWrong
      : graphError(status, { code: 131016, message: '(#131016) Service unavailable', isTransient: true }),
};

/** The recipient of a well-formed text or template message, or the 100 error Meta answers. */
function checkMessage(request: ParsedRequest): string | FakeResponse {
  const body = request.json;
  const invalid = (details: string) => graphError(400, { code: 100, message: '(#100) Invalid parameter', details });
  if (!isObject(body)) return invalid('Request body is not a JSON object');
  if (body['messaging_product'] !== 'whatsapp') return invalid('The parameter messaging_product is required.');
  if (!nonEmptyString(body['to'])) return invalid('The parameter to is required.');
  if (body['type'] === 'text' || body['type'] === undefined) {
    const text = body['text'];
    if (!isObject(text) || !nonEmptyString(text['body'])) return invalid("The parameter text['body'] is required.");
    return body['to'];
  }
  if (body['type'] === 'template') {
    const template = body['template'];
    if (!isObject(template) || !nonEmptyString(template['name'])) return invalid("The parameter template['name'] is required.");
    const language = template['language'];
    if (!isObject(language) || !nonEmptyString(language['code'])) {
      return invalid("The parameter template['language']['code'] is required.");
    }
    return body['to'];
  }
  return invalid(`Unsupported message type: ${String(body['type'])}`);
}
