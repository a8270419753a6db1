import { isRecord } from '@herald/core';
import type { OutboundHttp, OutboundRequest, OutboundResponse, SendResult } from '../adapter';
import { classifyOutboundError } from '../http/outbound-error';
import { redactText } from '../http/redact-url';

/** Kept on the delivery: long enough to read, short enough for a column and a dashboard. */
const MAX_MESSAGE_LENGTH = 500;
const MAX_EXCERPT_LENGTH = 200;

/**
 * Sends one request. An answer of any status comes back as `response`; what never produced
 * one (refused destination, timeout, reset, redirect) is already classified as `result`.
 */
export async function exchange(http: OutboundHttp, request: OutboundRequest): Promise<{ response: OutboundResponse } | { result: SendResult }> {
  try {
    return { response: await http.request(request) };
  } catch (error) {
    return { result: classifyOutboundError(error) };
  }
}

export function isSuccess(response: OutboundResponse): boolean {
  return response.status >= 200 && response.status < 300;
}

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

// Core's, re-exported for the adapters, which read every answer through this module.
export { isRecord };

/** A message fit to keep: no URL with a token in it, at most 500 characters. */
export function cleanMessage(message: string, maxLength = MAX_MESSAGE_LENGTH): string {
  const clean = redactText(message.replace(/\s+/g, ' ').trim());
  return clean.length > maxLength ? `${clean.slice(0, maxLength - 1)}…` : clean;
}

/** The start of an answer's body, for errors whose body has no message field we know. */
export function bodyExcerpt(response: OutboundResponse): string {
  return cleanMessage(response.body, MAX_EXCERPT_LENGTH) || '(empty body)';
}

function header(response: OutboundResponse, name: string): string | undefined {
  const direct = response.headers[name];
  if (direct !== undefined) return direct;
  const key = Object.keys(response.headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : response.headers[key];
}

/** `Retry-After` (delay-seconds or an HTTP date) in milliseconds from now, when present and valid. */
export function retryAfterMs(response: OutboundResponse, now = Date.now()): number | undefined {
  const value = header(response, 'retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function retry(code: string, message: string, options: { retryAfterMs?: number | undefined; throttled?: boolean } = {}): SendResult {
  return {
    outcome: 'retry',
    code,
    message: cleanMessage(message),
    ...(options.retryAfterMs !== undefined ? { retryAfterMs: options.retryAfterMs } : {}),
    ...(options.throttled ? { throttled: true } : {}),
  };
}

/** `optOut`: why the person is to be opted out, when the refusal says they opted out or blocked us. */
export function failed(code: string, message: string, optOut?: string): SendResult {
  return { outcome: 'failed', code, message: cleanMessage(message), ...(optOut ? { optOut } : {}) };
}

export function connectionFault(code: string, message: string): SendResult {
  return { outcome: 'connection_fault', code, message: cleanMessage(message) };
}

/** How an error the adapter has no specific rule for is read: from its HTTP status alone. */
export type StatusRule = 'retry' | 'throttled' | 'failed' | 'fault';

export function ruleForStatus(status: number): StatusRule {
  if (status === 429) return 'throttled';
  if (status >= 500) return 'retry';
  if (status === 401) return 'fault';
  if (status >= 400) return 'failed';
  return 'retry'; // 1xx/3xx never reach an adapter (redirects are refused by the client)
}

/** Builds the result for a rule, carrying `Retry-After` on every retry. */
export function resultFor(rule: StatusRule, response: OutboundResponse, code: string, message: string): SendResult {
  switch (rule) {
    case 'retry':
      return retry(code, message, { retryAfterMs: retryAfterMs(response) });
    case 'throttled':
      return retry(code, message, { retryAfterMs: retryAfterMs(response), throttled: true });
    case 'failed':
      return failed(code, message);
    case 'fault':
      return connectionFault(code, message);
  }
}

/** The fallback for an error body the adapter cannot read (a proxy's HTML page, an empty body). */
export function classifyByStatus(response: OutboundResponse): SendResult {
  return resultFor(ruleForStatus(response.status), response, `http_${response.status}`, bodyExcerpt(response));
}
