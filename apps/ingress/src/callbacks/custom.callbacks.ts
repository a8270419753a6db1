/**
 * A custom endpoint's reports: `POST {delivery_id, status, error?, at?}` signed as Herald signs
 * what it sends there, `X-Herald-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed
 * with the connection's `secret`. `status` is `delivered`, `read` or `failed`; `error` is
 * `{code, message}` (or a string); `at` an ISO 8601 time (default: when it arrived). A body
 * may also be an array of such reports.
 */
import { secretsEqual, sha256Signature } from '@herald/core';
import { accepted, credential, isRecord, parseJsonBody, plausibleTime, refused, type CallbackEffects, type ProviderCallbacks } from './provider-callbacks';

const STATUSES = ['delivered', 'read', 'failed'];
const MAX_REPORTS_PER_CALL = 1_000;
const INVALID = new Date(NaN);

export const customCallbacks: ProviderCallbacks = {
  methods: ['POST'],
  handle(connection, request) {
    const secret = credential(connection, 'secret');
    if (!secret) return refused(403, 'this connection has no secret credential to verify reports with');
    const expected = sha256Signature(secret, request.rawBody);
    if (!secretsEqual(request.header('x-herald-signature') ?? '', expected)) return refused(401, 'X-Herald-Signature does not match the body');

    const body = parseJsonBody(request.rawBody);
    const reports = Array.isArray(body) ? body : [body];
    if (reports.length === 0 || reports.length > MAX_REPORTS_PER_CALL) return refused(400, `send 1 to ${MAX_REPORTS_PER_CALL} reports per call`);
    const effects: CallbackEffects = { receipts: [], optOuts: [] };
    for (const [index, report] of reports.entries()) {
      const where = Array.isArray(body) ? `report ${index}: ` : '';
      if (!isRecord(report)) return refused(400, `${where}a report is a JSON object {delivery_id, status, error?, at?}`);
      const deliveryId = typeof report['delivery_id'] === 'number' ? String(report['delivery_id']) : report['delivery_id'];
      if (typeof deliveryId !== 'string' || !/^[1-9]\d{0,17}$/.test(deliveryId)) return refused(400, `${where}delivery_id must be the delivery id Herald sent`);
      const status = report['status'];
      if (typeof status !== 'string' || !STATUSES.includes(status)) return refused(400, `${where}status must be one of ${STATUSES.join(', ')}`);
      const at = report['at'] === undefined ? request.receivedAt : new Date(String(report['at']));
      if (plausibleTime(at, INVALID) === INVALID) return refused(400, `${where}at must be an ISO 8601 time between the years 2000 and 9999`);
      if (status === 'delivered') effects.receipts.push({ deliveryId, deliveredAt: at });
      if (status === 'read') effects.receipts.push({ deliveryId, readAt: at });
      if (status === 'failed') effects.receipts.push({ deliveryId, failure: { at, ...describeError(report['error']) } });
    }
    return accepted(effects);
  },
};

function describeError(error: unknown): { code: string; message: string } {
  if (typeof error === 'string') return { code: 'failed', message: error };
  if (!isRecord(error)) return { code: 'failed', message: 'the endpoint reported a failure' };
  return { code: String(error['code'] ?? 'failed'), message: String(error['message'] ?? 'the endpoint reported a failure') };
}
