import { workerConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { JobProducer } from '@herald/queue';
import { createMetricsRegistry, createServiceApp, loadConfigOrExit, runHttpService } from '@herald/service';
import { processors } from './processors';
import { registerQueueMetrics } from './queue-metrics';
import { keepReconcilerScheduled } from './reconciler-schedule';
import { startWorkers, stopWorkers } from './workers';

const config = loadConfigOrExit(workerConfigSchema, process.env);
const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });

runHttpService({
  service: 'worker',
  config,
  logger,
  // The worker answers probes and metrics too, on a port of its own (SPEC §5).
  port: config.WORKER_PORT,
  redisRole: 'worker',
  build: ({ db, redis, checks }) => {
    const producer = new JobProducer(redis, config.QUEUE_PREFIX, (error) => logger.warn('queue error', { error }));
    const workers = startWorkers({
      connection: redis,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
      processors,
      ctx: {
        db,
        logger,
        producer,
        dispatchStuckAfterMs: config.DISPATCH_STUCK_AFTER_MS,
        deliveryChunkSize: config.DELIVERY_CHUNK_SIZE,
      },
    });
    const reconciler = keepReconcilerScheduled(producer, config.RECONCILE_INTERVAL_MS, logger);
    logger.info('workers started', { queues: workers.map((w) => w.name), concurrency: config.WORKER_CONCURRENCY });
    const metrics = createMetricsRegistry('worker');
    registerQueueMetrics(metrics, producer, logger);
    return {
      app: createServiceApp({ logger, checks, metrics }),
      stopWork: async () => {
        reconciler.stop();
        await stopWorkers(workers);
      },
      release: () => producer.close(),
    };
  },
});
