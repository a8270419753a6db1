import { setTimeout as sleep } from 'node:timers/promises';
import { finishDeliveries, type Db, type DeliveryOutcome } from '@herald/db';
import type { Logger } from '@herald/logger';

/** Outcomes written per statement, and the longest an outcome waits to be written. */
const FLUSH_SIZE = 200;
const FLUSH_AFTER_MS = 50;
/** A write that fails (Postgres restarting, a lost deadlock) is tried again for this long. */
const WRITE_RETRY_FOR_MS = 30_000;

/**
 * Collects the outcomes of one claim's sends and writes them in batches (one statement each,
 * counted on the run in the same transaction). A message the provider accepted but whose
 * outcome is not written yet is what a crash would send again, so batches are small and
 * frequent, and a failed write is retried rather than dropped.
 */
export class OutcomeRecorder {
  private buffer: DeliveryOutcome[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly db: Db,
    private readonly runId: string,
    private readonly claimId: string,
    private readonly log: Logger,
  ) {}

  add(outcome: DeliveryOutcome): void {
    this.buffer.push(outcome);
    if (this.buffer.length >= FLUSH_SIZE) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
  }

  /** Writes what is buffered and waits for every write; throws if one could not be made. */
  async close(): Promise<void> {
    this.flush();
    await this.writing;
    if (this.failure) throw this.failure;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const outcomes = this.buffer;
    this.buffer = [];
    // Writes are chained: one statement at a time per claim, in order.
    this.writing = this.writing.then(() => this.write(outcomes));
  }

  private async write(outcomes: DeliveryOutcome[]): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await finishDeliveries(this.db, { runId: this.runId, claimId: this.claimId, outcomes });
        return;
      } catch (error) {
        if (Date.now() - started > WRITE_RETRY_FOR_MS) {
          // Left `sending`: their lease expires and the reconciler sends them again.
          this.log.error('delivery outcomes could not be written', { error, deliveries: outcomes.length });
          this.failure ??= error;
          return;
        }
        this.log.warn('writing delivery outcomes failed, retrying', { error, attempt });
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
  }
}
