import type { Job, Worker } from 'bullmq';
import { createWorker, queuesOf, type ConsumedJobName, type ProcessorMap, type QueueBackend, type QueueName } from '@herald/queue';
import { createJobHandler } from './job-handler';
import type { WorkerContext } from './worker-context';

export interface StartWorkersOptions {
  /** Where the queues are (Redis, or Postgres in the embedded mode). */
  backend: QueueBackend;
  /** Jobs one Worker runs at once: one number for every queue, or per queue. */
  concurrency: number | ((queue: QueueName) => number);
  /** Only these queues get a Worker (WORKER_QUEUES); default: every queue a processor consumes. */
  queues?: readonly string[];
  /** Lock duration and stalled-check period: how soon a dead worker's job is picked up again. */
  stalledIntervalMs?: number;
  processors: ProcessorMap<WorkerContext>;
  ctx: WorkerContext;
  /** Where the Workers' error events go (default: the log, in full). */
  onWorkerError?: (error: Error, queue: QueueName) => void;
}

/** The Workers of one process, and how to stop them. */
export interface WorkerGroup {
  workers: Worker[];
  /**
   * Stops taking jobs and waits for the running ones to finish. BullMQ has no timeout of its own
   * here; the process's shutdown deadline bounds it, and a job cut off by that deadline is
   * picked up again by another worker as stalled (jobs are idempotent).
   * With `queuesReachable` false (Redis is down) BullMQ's own wait would never end — it waits for
   * a fetch loop stuck reconnecting — so the group waits for its running processors instead
   * (what they record goes to Postgres), then closes the Workers without BullMQ's wait.
   */
  stop(options?: { queuesReachable?: boolean }): Promise<void>;
}

/**
 * One BullMQ Worker per queue that a processor consumes, all sharing one handler and connection.
 * Queues of jobs without a processor yet get no Worker: their jobs wait (see the catalog).
 */
export function startWorkers({ backend, concurrency, queues, stalledIntervalMs = 30_000, processors, ctx, onWorkerError }: StartWorkersOptions): WorkerGroup {
  const running = new Set<Promise<unknown>>();
  const handle = createJobHandler(processors, ctx);
  const handler = (job: Job) => {
    const processing = handle(job);
    const tracked = processing.catch(() => undefined).finally(() => running.delete(tracked));
    running.add(tracked);
    return processing;
  };
  const consumed = queuesOf(Object.keys(processors) as ConsumedJobName[]).filter((queue) => !queues || queues.includes(queue));
  const workers = consumed.map((queue) => {
    const worker = createWorker(backend, queue, handler, {
      concurrency: typeof concurrency === 'number' ? concurrency : concurrency(queue),
      lockDuration: stalledIntervalMs,
      stalledInterval: stalledIntervalMs,
    });
    worker.on('failed', (job, error) => {
      ctx.logger.warn('job failed', { queue, jobId: job?.id, job: job?.name, attempts: job?.attemptsMade, error });
    });
    worker.on('error', (error) => (onWorkerError ? onWorkerError(error, queue) : ctx.logger.error('worker error', { queue, error })));
    return worker;
  });
  return {
    workers,
    async stop({ queuesReachable = true } = {}) {
      if (queuesReachable) {
        await Promise.all(workers.map((worker) => worker.close()));
        return;
      }
      await Promise.all([...running]);
      await Promise.all(workers.map((worker) => worker.close(true)));
    },
  };
}
