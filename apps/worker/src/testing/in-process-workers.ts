import type { Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { JobProducer } from '@herald/queue';
import { testLogger, testQueueBackend, TEST_SECRETS, useTestDatabase, useTestRedis } from '@herald/testing';
import { createDeliveryStage, type DeliveryStageOptions } from '../delivery/delivery-stage';
import { processors } from '../processors';
import { keepReconcilerScheduled } from '../reconciler-schedule';
import type { WorkerContext } from '../worker-context';
import { startWorkers, type WorkerGroup } from '../workers';
import { createDispatchMetrics } from '../worker-metrics';
import { createRetentionMetrics } from '../retention/retention-metrics';

/** Test support (excluded from the build): the worker's BullMQ Workers inside the test process. */

export interface InProcessWorkersOptions {
  concurrency: number;
  /** Replaces parts of the processors' context (deadlines, chunk size). */
  ctx?: Partial<WorkerContext>;
  /** Keeps the reconciler's job scheduler alive at this interval, as the worker's main does. */
  reconcileEveryMs?: number;
  /** Only these queues get Workers (as WORKER_QUEUES); default all. */
  queues?: readonly string[];
  /** Replaces parts of the delivery stage's settings (retry policy, concurrency, metrics registry…). */
  delivery?: Partial<Omit<DeliveryStageOptions, 'db' | 'logger' | 'queues'>>;
}

/** Delivery settings for tests: providers are fakes on loopback, retries come back fast. */
export const TEST_DELIVERY_OPTIONS: Omit<DeliveryStageOptions, 'db' | 'logger' | 'queues' | 'metrics'> = {
  concurrency: 20,
  claimBatch: 10,
  leaseMs: 30_000,
  retryPolicy: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 },
  connectTimeoutMs: 2_000,
  responseTimeoutMs: 2_000,
  allowedDestinations: ['127.0.0.0/8'],
  secrets: TEST_SECRETS,
};

/**
 * Registers beforeAll/afterAll: a test database and Redis prefix of the file's own, a producer
 * on them, and the worker's Workers consuming the catalog's queues with the real processors.
 * Workers and producer stop before the database and Redis are cleaned up.
 */
export function useInProcessWorkers({ concurrency, ctx = {}, reconcileEveryMs, queues, delivery: deliveryOptions }: InProcessWorkersOptions) {
  let workers: WorkerGroup | undefined;
  let producer: JobProducer | undefined;
  let schedule: { stop(): void } | undefined;
  let delivery: ReturnType<typeof createDeliveryStage> | undefined;
  afterAll(async () => {
    schedule?.stop();
    delivery?.stop();
    await workers?.stop();
    await producer?.close();
    await delivery?.close();
  });
  const database = useTestDatabase();
  const redis = useTestRedis();
  beforeAll(() => {
    const logger = testLogger('worker-test');
    const backend = testQueueBackend(database.current, redis.current);
    producer = new JobProducer(backend);
    delivery = createDeliveryStage({
      ...TEST_DELIVERY_OPTIONS,
      metrics: new Registry(),
      ...deliveryOptions,
      db: database.current.db,
      logger: ctx.logger ?? logger,
      queues: backend,
    });
    workers = startWorkers({
      backend,
      concurrency,
      queues,
      processors,
      ctx: {
        db: database.current.db,
        logger,
        producer,
        dispatchStuckAfterMs: 60_000,
        dispatchMaxPostponeMs: 600_000,
        dispatchStatementTimeoutMs: 60_000,
        dispatchBatchTriggers: 500,
        deliveryChunkSize: 1_000,
        dispatchMetrics: createDispatchMetrics(new Registry()),
        delivery,
        deliveryStalledAfterMs: 300_000,
        // Off, as by default; a test of retention sets its own.
        retention: {
          days: 0,
          batchSize: 1_000,
          pauseMs: 0,
          statementTimeoutMs: 60_000,
          metrics: createRetentionMetrics(new Registry()),
          stopping: new AbortController().signal,
        },
        ...ctx,
      },
    });
    if (reconcileEveryMs !== undefined) schedule = keepReconcilerScheduled(producer, reconcileEveryMs, logger);
  });
  return {
    database,
    redis,
    get producer(): JobProducer {
      if (!producer) throw new Error('the producer exists only inside tests (beforeAll has not run)');
      return producer;
    },
    get workers(): readonly Worker[] {
      return workers?.workers ?? [];
    },
  };
}
