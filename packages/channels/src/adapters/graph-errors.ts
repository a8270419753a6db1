import type { OutboundResponse, SendResult } from '../adapter';
import { classifyByStatus, isRecord, parseJson, resultFor, ruleForStatus, type StatusRule } from './outcomes';

/**
 * Meta Graph API errors (WhatsApp Cloud API, Messenger Send API):
 * `{"error":{"message","type","code","error_subcode"?,"error_data":{"details"}?,"is_transient"?}}`.
 * Meta answers several throttling codes with HTTP 400, so the code decides, never the status.
 */
export type GraphRules = ReadonlyMap<number, StatusRule>;

/**
 * `optOuts`: codes that say the person blocked or opted out (Messenger 551, WhatsApp 131050),
 * with the reason kept on the contact, which later runs skip.
 */
export function classifyGraphError(response: OutboundResponse, rules: GraphRules, optOuts: ReadonlyMap<number, string> = new Map()): SendResult {
  const body = parseJson(response.body);
  const error = isRecord(body) ? body['error'] : undefined;
  if (!isRecord(error) || typeof error['code'] !== 'number') return classifyByStatus(response);
  const code = error['code'];
  const rule = rules.get(code) ?? (error['is_transient'] === true ? 'retry' : ruleForStatus(response.status));
  const result = resultFor(rule, response, String(code), graphMessage(error));
  const optOut = optOuts.get(code);
  return optOut && result.outcome === 'failed' ? { ...result, optOut } : result;
}

/** "(#131026) Message undeliverable: Unable to deliver message…": the message and its details. */
function graphMessage(error: Record<string, unknown>): string {
  const message = typeof error['message'] === 'string' ? error['message'] : 'Graph API error';
  const data = error['error_data'];
  const details = isRecord(data) && typeof data['details'] === 'string' ? data['details'] : undefined;
  const subcode = typeof error['error_subcode'] === 'number' ? ` (subcode ${error['error_subcode']})` : '';
  return details && details !== message ? `${message}${subcode}: ${details}` : `${message}${subcode}`;
}
