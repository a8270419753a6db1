import { adminConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { JobProducer } from '@herald/queue';
import { createMetricsRegistry, loadConfigOrExit, runHttpService } from '@herald/service';
import { createApp } from './app';

const config = loadConfigOrExit(adminConfigSchema, process.env);
const logger = createLogger({ service: 'admin', level: config.LOG_LEVEL });
if (!config.ADMIN_API_KEY) logger.warn('ADMIN_API_KEY is not set: the admin API is open (development only)');

runHttpService({
  service: 'admin',
  config,
  logger,
  port: config.ADMIN_PORT,
  redisRole: 'producer',
  build: ({ db, redis, checks }) => {
    const producer = new JobProducer(redis, config.QUEUE_PREFIX, (error) => logger.warn('queue error', { error }));
    return {
      app: createApp({
        logger,
        checks,
        metrics: createMetricsRegistry('admin'),
        db,
        adminApiKey: config.ADMIN_API_KEY,
        publicUrl: config.PUBLIC_URL,
        producer,
        outboundAllowedDestinations: config.OUTBOUND_ALLOWED_DESTINATIONS,
      }),
      release: () => producer.close(),
    };
  },
});
