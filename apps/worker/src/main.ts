import { workerConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import {
  closeServer,
  createMetricsRegistry,
  createServiceApp,
  listen,
  loadConfigOrExit,
  openConnections,
  runService,
} from '@herald/service';
import { processors } from './processors';
import { startWorkers, stopWorkers } from './workers';

const config = loadConfigOrExit(workerConfigSchema, process.env);
const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });

void runService({
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  async start() {
    const connections = openConnections(config, logger, 'worker', 'worker');
    const workers = startWorkers({
      connection: connections.redis,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      processors,
      ctx: { db: connections.db, logger },
    });
    // The worker answers probes and metrics too, on its own port (SPEC §5).
    const app = createServiceApp({ logger, checks: connections.checks, metrics: createMetricsRegistry('worker') });
    const server = await listen(app, config.WORKER_PORT, config.HOST);
    logger.info('worker started', { port: config.WORKER_PORT, queues: workers.map((w) => w.name) });
    return {
      async stop() {
        await stopWorkers(workers);
        await closeServer(server);
        await connections.close();
      },
    };
  },
});
