import { isRecord, type ChannelName } from '@herald/core';
import type { OptOutSignal, ReceiptRow } from '@herald/db';
import { exceedsJsonDepth } from '@herald/service';

/** The connection a callback URL names, with what verifying its callbacks needs. */
export interface CallbackConnection {
  id: string;
  bot_id: string;
  channel: ChannelName;
  provider: string;
  credentials: Readonly<Record<string, unknown>>;
}

/** A credential of the connection, trimmed; undefined when absent or blank. */
export function credential(connection: CallbackConnection, name: string): string | undefined {
  const value = connection.credentials[name];
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/** A callback as it arrived: verification needs the raw bytes, and Twilio's the URL it called. */
export interface CallbackRequest {
  method: string;
  /** The URL the provider called, as it knows it: PUBLIC_URL + path and query. */
  publicUrl: string;
  readonly query: URLSearchParams;
  header(name: string): string | undefined;
  rawBody: Buffer;
  /** When it arrived: the time of the facts a provider reports without one (Twilio). */
  receivedAt: Date;
}

export interface CallbackAnswer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * Where a reported fact belongs, when the webhook is shared: the provider's id of the number
 * or agent it is about (WhatsApp's `phone_number_id`, RBM's `agentId`). Absent: this connection.
 */
export interface Via {
  via?: string;
}

/** What a verified callback reports, to be recorded; the connection id is filled in by the route. */
export interface CallbackEffects {
  receipts: Array<Omit<ReceiptRow, 'connectionId'> & Via>;
  optOuts: Array<Omit<OptOutSignal, 'connectionId'> & Via>;
}

/**
 * What a callback comes to:
 * - `refused`: it failed verification (401/403) or is malformed (400); nothing is recorded;
 * - `answered`: a handshake, answered without recording anything;
 * - `accepted`: verified; its effects are recorded before `answer` is sent.
 */
export type CallbackOutcome =
  | { outcome: 'refused'; status: 400 | 401 | 403; message: string }
  | { outcome: 'answered'; answer: CallbackAnswer }
  | { outcome: 'accepted'; effects: CallbackEffects; answer: CallbackAnswer };

/** One provider's callbacks: verification (constant-time) and parsing, no I/O. */
export interface ProviderCallbacks {
  /** The HTTP methods it answers; the route refuses others (405) before reading the body. */
  readonly methods: readonly string[];
  /**
   * For a webhook one provider account shares between numbers or agents: the credential that
   * verifies it and the one that names the number or agent (what `via` is compared with). A
   * fact `via` another one goes to the connection with the same secret and that name.
   */
  readonly shared?: { secretName: string; scopeName: string };
  handle(connection: CallbackConnection, request: CallbackRequest): CallbackOutcome;
}

export const NO_EFFECTS: CallbackEffects = { receipts: [], optOuts: [] };

export function refused(status: 400 | 401 | 403, message: string): CallbackOutcome {
  return { outcome: 'refused', status, message };
}

export function accepted(effects: CallbackEffects, answer: CallbackAnswer = OK_JSON): CallbackOutcome {
  return { outcome: 'accepted', effects, answer };
}

export const OK_JSON: CallbackAnswer = { status: 200, contentType: 'application/json; charset=utf-8', body: '{"received":true}\n' };

/** A JSON body, or undefined when it is not JSON (or nests deeper than any provider's). */
export function parseJsonBody(raw: Buffer): unknown {
  try {
    const value = JSON.parse(raw.toString('utf8')) as unknown;
    return exceedsJsonDepth(value) ? undefined : value;
  } catch {
    return undefined;
  }
}

// Core's, re-exported for the provider modules, which read every body through this module.
export { isRecord };

/** An array's records, skipping anything else (providers add fields and kinds over time). */
export function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** A Unix time in seconds (a number or a numeric string), or the fallback. */
export function unixSeconds(value: unknown, fallback: Date): Date {
  const seconds = typeof value === 'string' ? Number(value) : value;
  return typeof seconds === 'number' ? plausibleTime(new Date(seconds * 1000), fallback) : fallback;
}

/**
 * `time` when it is one a provider could mean (years 2000 to 9999), else the fallback: a date
 * JavaScript accepts but Postgres does not (year -271821) would fail the batch it travels in.
 */
export function plausibleTime(time: Date, fallback: Date): Date {
  const year = time.getUTCFullYear();
  return Number.isFinite(time.getTime()) && year >= 2000 && year <= 9999 ? time : fallback;
}
