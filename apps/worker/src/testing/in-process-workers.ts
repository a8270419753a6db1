import type { Worker } from 'bullmq';
import { JobProducer } from '@herald/queue';
import { testLogger, useTestDatabase, useTestRedis } from '@herald/testing';
import { processors } from '../processors';
import { keepReconcilerScheduled } from '../reconciler-schedule';
import type { WorkerContext } from '../worker-context';
import { startWorkers, stopWorkers } from '../workers';

/** Test support (excluded from the build): the worker's BullMQ Workers inside the test process. */

export interface InProcessWorkersOptions {
  concurrency: number;
  /** Replaces parts of the processors' context (deadlines, chunk size). */
  ctx?: Partial<WorkerContext>;
  /** Keeps the reconciler's job scheduler alive at this interval, as the worker's main does. */
  reconcileEveryMs?: number;
}

/**
 * Registers beforeAll/afterAll: a test database and Redis prefix of the file's own, a producer
 * on them, and the worker's Workers consuming the catalog's queues with the real processors.
 * Workers and producer stop before the database and Redis are cleaned up.
 */
export function useInProcessWorkers({ concurrency, ctx = {}, reconcileEveryMs }: InProcessWorkersOptions) {
  let workers: Worker[] = [];
  let producer: JobProducer | undefined;
  let schedule: { stop(): void } | undefined;
  afterAll(async () => {
    schedule?.stop();
    await stopWorkers(workers);
    await producer?.close();
  });
  const database = useTestDatabase();
  const redis = useTestRedis();
  beforeAll(() => {
    const { redis: connection, prefix } = redis.current;
    const logger = testLogger('worker-test');
    producer = new JobProducer(connection, prefix);
    workers = startWorkers({
      connection,
      prefix,
      concurrency,
      processors,
      ctx: { db: database.current.db, logger, producer, dispatchStuckAfterMs: 60_000, deliveryChunkSize: 1_000, ...ctx },
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
      return workers;
    },
  };
}
