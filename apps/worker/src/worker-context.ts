import type { Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';

/** What every processor receives besides its job. Kept small on purpose (STYLE §11). */
export interface WorkerContext {
  db: Db;
  logger: Logger;
  /** For jobs that schedule other jobs (the reconciler re-arms timers). */
  producer: JobProducer;
  /** A dispatch with no progress for this long is retried by the reconciler. */
  dispatchStuckAfterMs: number;
}
