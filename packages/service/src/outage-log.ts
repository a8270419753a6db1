import type { Logger } from '@herald/logger';

/** Error codes and messages that say "the server cannot be reached", not "a bug". */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
const CONNECTION_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
  'Reached the max retries per request limit',
  'CLUSTERDOWN',
  'Failed to refresh slots cache',
  'None of startup nodes is available',
  'Connection in subscriber mode',
  'Command timed out',
  'LOADING',
  'READONLY',
  'MASTERDOWN',
];

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.some((text) => error.message.includes(text));
}

/**
 * One log line when a dependency becomes unreachable and one when it answers again, instead of
 * one per failed command and reconnect attempt (a worker with Redis down logged 250 errors with
 * their stacks in 6 s). The errors in between are counted and reported with the recovery.
 */
export class OutageLog {
  private downSince: number | undefined;
  private errorsWhileDown = 0;

  constructor(
    private readonly logger: Logger,
    private readonly dependency: string,
    private readonly now: () => number = Date.now,
  ) {}

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** A connection error: logged (without its stack: it says nothing the message does not) if it starts an outage. */
  failed(error: Error, context: Record<string, unknown> = {}): void {
    if (this.downSince !== undefined) {
      this.errorsWhileDown++;
      return;
    }
    this.downSince = this.now();
    this.errorsWhileDown = 1;
    const code = (error as { code?: unknown }).code;
    this.logger.warn(`${this.dependency} unavailable: retrying until it answers`, {
      ...context,
      cause: typeof code === 'string' ? `${code}: ${error.message}` : error.message,
    });
  }

  /** The dependency answered: ends the outage, if there was one. */
  recovered(): void {
    if (this.downSince === undefined) return;
    this.logger.info(`${this.dependency} available again`, { downMs: this.now() - this.downSince, errorsWhileDown: this.errorsWhileDown });
    this.downSince = undefined;
    this.errorsWhileDown = 0;
  }

  /**
   * For the error events of things using the connection (BullMQ queues and workers): a
   * connection error joins the outage; anything else is logged in full, as it may be a bug.
   */
  report(message: string, error: Error, context: Record<string, unknown> = {}): void {
    if (isConnectionError(error)) this.failed(error, context);
    else this.logger.error(message, { ...context, error });
  }
}
