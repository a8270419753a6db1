import { ingressConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { JobProducer } from '@herald/queue';
import { createMetricsRegistry, loadConfigOrExit, runHttpService } from '@herald/service';
import { createApp } from './app';
import { createHookDeps } from './hooks/accept-hook-call';
import { HookBroadcastCache } from './hooks/broadcast-cache';
import { AddressList } from './hooks/caller-address';

const config = loadConfigOrExit(ingressConfigSchema, process.env);
const logger = createLogger({ service: 'ingress', level: config.LOG_LEVEL });

runHttpService({
  service: 'ingress',
  config,
  logger,
  port: config.INGRESS_PORT,
  // Fail fast when Redis is down: an accepted trigger is already safe in Postgres.
  redisRole: 'producer',
  processes: config.INGRESS_PROCESSES,
  build: ({ db, redis, checks }) => {
    const producer = new JobProducer(redis, config.QUEUE_PREFIX, (error) => logger.warn('queue error', { error }));
    const deps = createHookDeps({ db, producer, logger, broadcasts: new HookBroadcastCache(db), maxTargetsPerCall: config.MAX_TARGETS_PER_CALL });
    const app = createApp({
      logger,
      checks,
      metrics: createMetricsRegistry('ingress'),
      hooks: {
        deps,
        trustedProxies: config.TRUSTED_PROXIES.length ? new AddressList(config.TRUSTED_PROXIES) : null,
        bodyLimitBytes: config.HOOK_BODY_LIMIT_BYTES,
      },
    });
    return {
      app,
      release: async () => {
        await deps.inFlight.drained(); // calls whose caller hung up are not awaited by the server
        await producer.close();
      },
    };
  },
});
