import { setTimeout as sleep } from 'node:timers/promises';
import { finishDeliveries, type Db, type DeliveryOutcome } from '@herald/db';
import type { Logger } from '@herald/logger';

/** Outcomes buffered before a write is started, and the longest an outcome waits for one. */
const FLUSH_SIZE = 500;
const FLUSH_AFTER_MS = 50;
/**
 * Most outcomes accepted but not yet written. Past it, `add` waits (and with it the sender,
 * which holds its in-flight slot meanwhile): a slow Postgres slows the sending instead of
 * growing what a crash would send again.
 */
export const MAX_UNWRITTEN_OUTCOMES = FLUSH_SIZE;
/** A write that fails (Postgres restarting, a lost deadlock) is tried again for this long. */
const WRITE_RETRY_FOR_MS = 30_000;

/**
 * Collects the outcomes of every send of this worker process and writes them in batches: one
 * statement per run per batch, which also counts them on the run. One writer per process, not
 * per chunk: chunks of the same run share its statements, so the run's row (locked by each
 * one) is written a few times a second rather than by every chunk at once.
 *
 * A message the provider accepted but whose outcome is not written yet is what a crash would
 * send again, so batches are small and frequent, a failed write is retried, not dropped, and
 * no more than MAX_UNWRITTEN_OUTCOMES wait: what a crash can resend is bounded by the
 * in-flight limit plus that.
 */
export class OutcomeRecorder {
  private buffer = new Map<string, DeliveryOutcome[]>();
  private buffered = 0;
  /** Outcomes added and not yet written (buffered or being written). */
  private unwritten = 0;
  private readonly waitingForRoom: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Writes run one after another, in order; this is the last one started. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Takes an outcome; resolves at once, or once the writes have caught up (see above). */
  add(runId: string, outcome: DeliveryOutcome): Promise<void> {
    const outcomes = this.buffer.get(runId);
    if (outcomes) outcomes.push(outcome);
    else this.buffer.set(runId, [outcome]);
    this.unwritten++;
    if (++this.buffered >= FLUSH_SIZE) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
    if (this.unwritten <= MAX_UNWRITTEN_OUTCOMES) return Promise.resolve();
    return new Promise((resolve) => this.waitingForRoom.push(resolve));
  }

  /**
   * Writes what is buffered and waits until every outcome added so far is written (or given up
   * on: those stay `sending`, and their lease expiring gets them sent again).
   */
  async drain(): Promise<void> {
    this.flush();
    await this.writing;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffered === 0) return;
    const batches = [...this.buffer];
    this.buffer = new Map();
    this.buffered = 0;
    this.writing = this.writing.then(async () => {
      for (const [runId, outcomes] of batches) {
        await this.write(runId, outcomes);
        this.unwritten -= outcomes.length;
      }
      while (this.waitingForRoom.length && this.unwritten <= MAX_UNWRITTEN_OUTCOMES) this.waitingForRoom.shift()!();
    });
  }

  private async write(runId: string, outcomes: DeliveryOutcome[]): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await finishDeliveries(this.db, { runId, outcomes });
        return;
      } catch (error) {
        if (Date.now() - started > WRITE_RETRY_FOR_MS) {
          this.log.error('delivery outcomes could not be written; their lease will expire and they will be sent again', {
            error,
            runId,
            deliveries: outcomes.length,
          });
          return;
        }
        this.log.warn('writing delivery outcomes failed, retrying', { error, runId, attempt });
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
  }
}
