/**
 * What providers report after they accepted a message (receipts) and what a contact's reply
 * asks for (opt-outs), as pure rules for the callback endpoints to apply. Providers send
 * receipts out of order and more than once, so applying them is a merge: a repeat, or an older
 * event after a newer one, changes nothing.
 */

/**
 * What the receipts of one sent message have told so far. Kept as facts, each the earliest of
 * its kind, so that merging is order-free: any order of the same events, repeated any number
 * of times, gives the same state (a join: commutative, associative, idempotent).
 */
export interface ReceiptState {
  deliveredAt: Date | null;
  readAt: Date | null;
  /** The earliest failure the provider reported after accepting the message. */
  failure: { at: Date; code: string; message: string } | null;
}

export type ReceiptEvent = { kind: 'delivered'; at: Date } | { kind: 'read'; at: Date } | { kind: 'failed'; at: Date; code: string; message: string };

export const NO_RECEIPTS: ReceiptState = { deliveredAt: null, readAt: null, failure: null };

/**
 * The state after `event`: each fact keeps its earliest time, and a read is also a delivery
 * (WhatsApp may report read before delivered).
 */
export function applyReceipt(state: ReceiptState, event: ReceiptEvent): ReceiptState {
  switch (event.kind) {
    case 'delivered':
      return { ...state, deliveredAt: earliest(state.deliveredAt, event.at) };
    case 'read':
      return { ...state, deliveredAt: earliest(state.deliveredAt, event.at), readAt: earliest(state.readAt, event.at) };
    case 'failed':
      if (state.failure && state.failure.at.getTime() <= event.at.getTime()) return state;
      return { ...state, failure: { at: event.at, code: event.code, message: event.message } };
  }
}

/**
 * What the receipts say, furthest first, so a status never moves backwards: a message known
 * to have arrived was not lost, whatever failure was reported around it (a late or reordered
 * event), so `delivered` and `read` win over `failed`.
 */
export function receiptStatus(state: ReceiptState): 'sent' | 'delivered' | 'read' | 'failed' {
  if (state.readAt) return 'read';
  if (state.deliveredAt) return 'delivered';
  return state.failure ? 'failed' : 'sent';
}

function earliest(known: Date | null, at: Date): Date {
  return known && known.getTime() <= at.getTime() ? known : at;
}

/** Whole-message keywords that opt a contact out of a channel (the carriers' and Twilio's list). */
export const OPT_OUT_KEYWORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'] as const;
/** Whole-message keywords that opt a contact back in. */
export const OPT_IN_KEYWORDS = ['START', 'UNSTOP', 'YES'] as const;

/**
 * What an inbound message asks for: the message must be the keyword alone (trimmed, any case,
 * trailing punctuation allowed), as carriers read it — "please don't stop" is not an opt-out.
 */
export function optOutIntent(text: string): 'opt_out' | 'opt_in' | undefined {
  const word = text
    .trim()
    .replace(/[.!]+$/, '')
    .toUpperCase();
  if ((OPT_OUT_KEYWORDS as readonly string[]).includes(word)) return 'opt_out';
  if ((OPT_IN_KEYWORDS as readonly string[]).includes(word)) return 'opt_in';
  return undefined;
}
