import type { Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';
import type { DeliveryDeps } from './delivery/deliver-chunk';
import type { RetentionSettings } from './retention/purge-expired';
import type { RetentionMetrics } from './retention/retention-metrics';
import type { DispatchMetrics } from './worker-metrics';

/** What every processor receives besides its job. Kept small on purpose (STYLE §11). */
export interface WorkerContext {
  db: Db;
  logger: Logger;
  /** For jobs that add other jobs (the reconciler re-arms timers, the dispatch adds chunks). */
  producer: JobProducer;
  /** A dispatch whose heartbeat stopped this long ago is resumed by the reconciler. */
  dispatchStuckAfterMs: number;
  /** DISPATCH_MAX_POSTPONE_MS: see broadcastsPostponedTooLong. */
  dispatchMaxPostponeMs: number;
  /** Each statement applying a trigger is cancelled past this; the trigger is then `failed`. */
  dispatchStatementTimeoutMs: number;
  /** Most triggers a dispatch applies in one transaction. */
  dispatchBatchTriggers: number;
  /** The dispatch's Prometheus series. */
  dispatchMetrics: DispatchMetrics;
  /** Deliveries per `delivery.chunk` job handed to a channel queue. */
  deliveryChunkSize: number;
  /** The delivery stage: outbound client, shared throttles, in-flight limit, retry policy. */
  delivery: DeliveryStage;
  /** A delivering run with due deliveries and no progress for this long gets its chunks again. */
  deliveryStalledAfterMs: number;
  /** RETENTION_*: what the retention pass deletes and how it paces itself, its series, and the
   *  signal that ends a pass early when the worker shuts down. */
  retention: RetentionStage;
}

export type RetentionStage = RetentionSettings & { metrics: RetentionMetrics; stopping: AbortSignal };

export type DeliveryStage = Omit<DeliveryDeps, 'db' | 'logger' | 'producer'>;
