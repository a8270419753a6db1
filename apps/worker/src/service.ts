import type { DeepReadonly, WorkerConfig } from '@herald/config';
import type { Logger } from '@herald/logger';
import { DELIVERY_QUEUES, JobProducer, type QueueName } from '@herald/queue';
import { createMetricsRegistry, createServiceApp, secretKeyringOf, type HttpServiceDefinition } from '@herald/service';
import { createDeliveryStage } from './delivery/delivery-stage';
import { processors } from './processors';
import { registerQueueMetrics } from './queue-metrics';
import { createDispatchMetrics, registerRunMetrics } from './worker-metrics';
import { keepReconcilerScheduled, keepRetentionScheduled } from './reconciler-schedule';
import { createRetentionMetrics } from './retention/retention-metrics';
import { startWorkers } from './workers';

/** A batch's delete is cancelled past this: far above what a batch of RETENTION_BATCH_SIZE takes. */
const RETENTION_STATEMENT_TIMEOUT_MS = 60_000;

const deliveryQueues: ReadonlySet<QueueName> = new Set(Object.values(DELIVERY_QUEUES));

/** The worker: dispatch, delivery and maintenance jobs, with probes and metrics on WORKER_PORT. */
export function workerService(config: DeepReadonly<WorkerConfig>, logger: Logger): HttpServiceDefinition {
  return {
    service: 'worker',
    // The worker answers probes and metrics too, on a port of its own (SPEC §5).
    port: config.WORKER_PORT,
    redisRole: 'worker',
    build: ({ backend, db, queues, checks, reportQueueError }) => {
      if (queues.kind === 'postgres' && backend !== 'embedded') {
        logger.warn(
          'the queues are in Postgres: this worker keeps the send-rate throttle to itself, so run only one worker process (or keep the queues in Redis)',
        );
      }
      const producer = new JobProducer(queues, (error) => reportQueueError('queue error', error));
      // The readiness probe's own check: on a cluster it asks the master of Herald's slot, which
      // may be gone while the connection to the others is up.
      const queuesReachable = async () =>
        checks['redis']
          ? checks['redis']().then(
              () => true,
              () => false,
            )
          : true;
      const metrics = createMetricsRegistry('worker');
      const delivery = createDeliveryStage({
        db,
        logger,
        queues,
        metrics,
        secrets: secretKeyringOf(config, logger),
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
      // Aborted at shutdown: a retention pass stops after its batch in flight.
      const stopping = new AbortController();
      const workers = startWorkers({
        backend: queues,
        concurrency: (queue: QueueName) => (deliveryQueues.has(queue) ? config.DELIVERY_CHUNK_CONCURRENCY : config.WORKER_CONCURRENCY),
        queues: config.WORKER_QUEUES,
        stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
        processors,
        onWorkerError: (error, queue) => reportQueueError('worker error', error, { queue }),
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
          retention: {
            days: config.RETENTION_DAYS,
            batchSize: config.RETENTION_BATCH_SIZE,
            pauseMs: config.RETENTION_BATCH_PAUSE_MS,
            statementTimeoutMs: RETENTION_STATEMENT_TIMEOUT_MS,
            metrics: createRetentionMetrics(metrics),
            stopping: stopping.signal,
          },
        },
      });
      const reconciler = keepReconcilerScheduled(producer, config.RECONCILE_INTERVAL_MS, logger);
      // Off by default: no scheduler, and a job of one left from before does nothing here.
      const retention = config.RETENTION_DAYS > 0 ? keepRetentionScheduled(producer, config.RETENTION_INTERVAL_MS, logger) : undefined;
      logger.info('workers started', { queues: workers.workers.map((w) => w.name), concurrency: config.WORKER_CONCURRENCY });
      registerQueueMetrics(metrics, producer, logger);
      registerRunMetrics(metrics, db, logger);
      return {
        app: createServiceApp({ logger, checks, metrics, backend }),
        stopWork: async () => {
          reconciler.stop();
          retention?.stop();
          stopping.abort();
          // Running chunks stop claiming, finish what is in flight and hand the rest back.
          delivery.stop();
          await workers.stop({ queuesReachable: await queuesReachable() });
        },
        release: async () => {
          await producer.close();
          await delivery.close();
        },
      };
    },
  };
}
