import { fakeErrors, graphError } from '../catalog';
import { bearerToken, isObject, jsonResponse, nonEmptyString, withHeaders, type ProviderRoute } from '../state';

const MESSAGING_TYPES = new Set(['RESPONSE', 'UPDATE', 'MESSAGE_TAG']);

/**
 * Messenger Send API: `POST /{version}/me/messages`, the Page token as a Bearer header (the
 * real API also takes `?access_token=`; the fake accepts only the header, which is what the
 * adapter must use so the token never lands in a URL).
 */
export const messengerRoute: ProviderRoute = {
  provider: 'messenger',
  match(path) {
    const match = /^\/(v\d+\.\d+)\/me\/messages$/.exec(path);
    return match ? [match[1]!] : null;
  },
  succeed(request, _captures, state) {
    if (bearerToken(request) !== state.credentials.messenger.page_access_token) {
      return fakeErrors.messenger.invalidToken;
    }
    const invalid = (message: string) => graphError(400, { code: 100, message: `(#100) ${message}` });
    const body = request.json;
    if (!isObject(body)) return invalid('Request body is not a JSON object');
    const recipient = body['recipient'];
    if (!isObject(recipient) || !nonEmptyString(recipient['id'])) return invalid('The parameter recipient is required');
    const messagingType = body['messaging_type'] ?? 'RESPONSE';
    if (typeof messagingType !== 'string' || !MESSAGING_TYPES.has(messagingType)) {
      return invalid('Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}');
    }
    if (messagingType === 'MESSAGE_TAG' && !nonEmptyString(body['tag'])) {
      return invalid('Param tag is required when messaging_type is MESSAGE_TAG');
    }
    const message = body['message'];
    if (!isObject(message) || !nonEmptyString(message['text'])) return invalid('param message must be non-empty.');
    return jsonResponse(200, {
      recipient_id: recipient['id'],
      message_id: `m_fake${state.nextId().toString(36).padStart(10, '0')}`,
    });
  },
  rateLimited: (seconds) => withHeaders(fakeErrors.messenger.rateLimit, { 'Retry-After': String(seconds) }),
  serverError: (status) =>
    status === 500 ? fakeErrors.messenger.temporarySendFailure : graphError(status, { code: 2, message: 'Service temporarily unavailable', isTransient: true }),
};
