import type { DeepReadonly, WorkerConfig } from '@herald/config';
import type { Logger } from '@herald/logger';
import { DELIVERY_QUEUES, JobProducer, type QueueName } from '@herald/queue';
import { createMetricsRegistry, createServiceApp, type HttpServiceDefinition } from '@herald/service';
import { createDeliveryStage } from './delivery/delivery-stage';
import { processors } from './processors';
import { registerQueueMetrics } from './queue-metrics';
import { createDispatchMetrics, registerRunMetrics } from './worker-metrics';
import { keepReconcilerScheduled } from './reconciler-schedule';
import { startWorkers, stopWorkers } from './workers';

const deliveryQueues: ReadonlySet<QueueName> = new Set(Object.values(DELIVERY_QUEUES));

/** The worker: dispatch, delivery and maintenance jobs, with probes and metrics on WORKER_PORT. */
export function workerService(config: DeepReadonly<WorkerConfig>, logger: Logger): HttpServiceDefinition {
  return {
    service: 'worker',
    // The worker answers probes and metrics too, on a port of its own (SPEC §5).
    port: config.WORKER_PORT,
    redisRole: 'worker',
    build: ({ backend, db, queues, checks }) => {
      if (queues.kind === 'postgres' && backend !== 'embedded') {
        logger.warn(
          'the queues are in Postgres: this worker keeps the send-rate throttle to itself, so run only one worker process (or keep the queues in Redis)',
        );
      }
      const producer = new JobProducer(queues, (error) => logger.warn('queue error', { error }));
      const metrics = createMetricsRegistry('worker');
      const delivery = createDeliveryStage({
        db,
        logger,
        queues,
        metrics,
        concurrency: config.DELIVERY_CONCURRENCY,
        claimBatch: config.DELIVERY_CLAIM_BATCH,
        leaseMs: config.DELIVERY_LEASE_MS,
        retryPolicy: {
          maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
          baseDelayMs: config.DELIVERY_RETRY_BASE_MS,
          maxDelayMs: config.DELIVERY_RETRY_MAX_MS,
        },
        connectTimeoutMs: config.PROVIDER_CONNECT_TIMEOUT_MS,
        responseTimeoutMs: config.PROVIDER_TIMEOUT_MS,
        allowedDestinations: config.OUTBOUND_ALLOWED_DESTINATIONS,
      });
      const workers = startWorkers({
        backend: queues,
        concurrency: (queue: QueueName) => (deliveryQueues.has(queue) ? config.DELIVERY_CHUNK_CONCURRENCY : config.WORKER_CONCURRENCY),
        queues: config.WORKER_QUEUES,
        stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
        processors,
        ctx: {
          db,
          logger,
          producer,
          dispatchStuckAfterMs: config.DISPATCH_STUCK_AFTER_MS,
          dispatchMaxPostponeMs: config.DISPATCH_MAX_POSTPONE_MS,
          dispatchStatementTimeoutMs: config.DISPATCH_STATEMENT_TIMEOUT_MS,
          dispatchBatchTriggers: config.DISPATCH_BATCH_TRIGGERS,
          deliveryChunkSize: config.DELIVERY_CHUNK_SIZE,
          dispatchMetrics: createDispatchMetrics(metrics),
          delivery,
          deliveryStalledAfterMs: config.DELIVERY_STALLED_AFTER_MS,
        },
      });
      const reconciler = keepReconcilerScheduled(producer, config.RECONCILE_INTERVAL_MS, logger);
      logger.info('workers started', { queues: workers.map((w) => w.name), concurrency: config.WORKER_CONCURRENCY });
      registerQueueMetrics(metrics, producer, logger);
      registerRunMetrics(metrics, db, logger);
      return {
        app: createServiceApp({ logger, checks, metrics, backend }),
        stopWork: async () => {
          reconciler.stop();
          // Running chunks stop claiming, finish what is in flight and hand the rest back.
          delivery.stop();
          await stopWorkers(workers);
        },
        release: async () => {
          await producer.close();
          await delivery.close();
        },
      };
    },
  };
}
