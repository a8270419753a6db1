import type { SendResult } from '../adapter';
import { redactText } from './redact-url';

/**
 * - `refused`: the destination policy refused the URL or what its host resolved to;
 * - `timeout`: no connection, no headers or no complete body in time;
 * - `network`: reset, refused or closed connection, DNS failure;
 * - `redirect`: the server answered 3xx (never followed: the target was never checked).
 */
export type OutboundErrorKind = 'refused' | 'timeout' | 'network' | 'redirect';

/** A request that produced no usable answer. Its message never holds a URL's query or a token. */
export class OutboundError extends Error {
  override readonly name = 'OutboundError';

  constructor(
    readonly kind: OutboundErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The `SendResult` for an error thrown while sending: a refused destination or a redirect is
 * the connection's fault (retrying cannot help until it is reconfigured); the rest is retried.
 */
export function classifyOutboundError(error: unknown): SendResult {
  if (!(error instanceof OutboundError)) {
    const message = error instanceof Error ? error.message : String(error);
    return { outcome: 'retry', code: 'network', message: redactText(message) };
  }
  const { message } = error;
  switch (error.kind) {
    case 'refused':
      return { outcome: 'connection_fault', code: 'destination_refused', message };
    case 'redirect':
      return { outcome: 'connection_fault', code: 'redirect_refused', message };
    case 'timeout':
      return { outcome: 'retry', code: 'timeout', message };
    case 'network':
      return { outcome: 'retry', code: 'network', message };
    default: {
      const unknownKind: never = error.kind;
      return { outcome: 'retry', code: 'network', message: `unknown outbound error kind ${String(unknownKind)}` };
    }
  }
}
