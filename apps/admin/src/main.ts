import { adminConfigSchema } from '@herald/config';
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

const config = loadConfigOrExit(adminConfigSchema, process.env);
const logger = createLogger({ service: 'admin', level: config.LOG_LEVEL });

void runService({
  logger,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  async start() {
    if (!config.ADMIN_API_KEY) logger.warn('ADMIN_API_KEY is not set: development mode only');
    const connections = openConnections(config, logger, 'admin', 'producer');
    const app = createApp({ logger, checks: connections.checks, metrics: createMetricsRegistry('admin') });
    const server = await listen(app, config.ADMIN_PORT, config.HOST);
    logger.info('admin listening', { host: config.HOST, port: config.ADMIN_PORT });
    return {
      async stop() {
        await closeServer(server);
        await connections.close();
      },
    };
  },
});
