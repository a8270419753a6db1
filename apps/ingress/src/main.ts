import { ingressConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { createMetricsRegistry, loadConfigOrExit, runHttpService } from '@herald/service';
import { createApp } from './app';

const config = loadConfigOrExit(ingressConfigSchema, process.env);
const logger = createLogger({ service: 'ingress', level: config.LOG_LEVEL });

runHttpService({
  service: 'ingress',
  config,
  logger,
  port: config.INGRESS_PORT,
  // Fail fast when Redis is down: an accepted trigger is already safe in Postgres.
  redisRole: 'producer',
  build: ({ checks }) => ({ app: createApp({ logger, checks, metrics: createMetricsRegistry('ingress') }) }),
});
