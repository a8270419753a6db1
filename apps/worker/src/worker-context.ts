import type { Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';

/** What every processor receives besides its job. Kept small on purpose (STYLE §11). */
export interface WorkerContext {
  db: Db;
  logger: Logger;
  /** For jobs that add other jobs (the reconciler re-arms timers, the dispatch adds chunks). */
  producer: JobProducer;
  /** A dispatch whose heartbeat stopped this long ago is resumed by the reconciler. */
  dispatchStuckAfterMs: number;
  /** Deliveries per `delivery.chunk` job handed to a channel queue. */
  deliveryChunkSize: number;
}
