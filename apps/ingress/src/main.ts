import { ingressConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import {
  closeServer,
  createMetricsRegistry,
  listen,
  loadConfigOrExit,
  openConnections,
  runService,
} from '@herald/service';
import { createApp } from './app';

const config = loadConfigOrExit(ingressConfigSchema, process.env);
const logger = createLogger({ service: 'ingress', level: config.LOG_LEVEL });

void runService({
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  async start() {
    const connections = openConnections(config, logger, 'ingress', 'producer');
    const app = createApp({ logger, checks: connections.checks, metrics: createMetricsRegistry('ingress') });
    const server = await listen(app, config.INGRESS_PORT, config.HOST);
    logger.info('ingress listening', { host: config.HOST, port: config.INGRESS_PORT });
    return {
      async stop() {
        await closeServer(server);
        await connections.close();
      },
    };
  },
});
