import type { AdminConfig, DeepReadonly } from '@herald/config';
import type { Logger } from '@herald/logger';
import { JobProducer } from '@herald/queue';
import { createMetricsRegistry, type HttpServiceDefinition } from '@herald/service';
import { createApp } from './app';

/**
 * The management API and the queue dashboard, on ADMIN_PORT. Without ADMIN_API_KEY (allowed in
 * development only) they answer anyone who can connect, so they listen on loopback only.
 */
export function adminService(config: DeepReadonly<AdminConfig>, logger: Logger): HttpServiceDefinition {
  if (!config.ADMIN_API_KEY) {
    logger.warn('ADMIN_API_KEY is not set: the admin API is open, so it listens on 127.0.0.1 only (set the key to serve it on HOST)');
  }
  return {
    service: 'admin',
    port: config.ADMIN_PORT,
    ...(config.ADMIN_API_KEY ? {} : { host: '127.0.0.1' }),
    redisRole: 'producer',
    build: ({ backend, db, queues, checks }) => {
      const producer = new JobProducer(queues, (error) => logger.warn('queue error', { error }));
      return {
        app: createApp({
          logger,
          checks,
          backend,
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
  };
}
