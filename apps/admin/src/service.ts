import type { AdminConfig, DeepReadonly } from '@herald/config';
import type { Logger } from '@herald/logger';
import { JobProducer } from '@herald/queue';
import { createMetricsRegistry, secretKeyringOf, type HttpServiceDefinition } from '@herald/service';
import { createApp } from './app';

/**
 * The management API and the queue dashboard, on ADMIN_PORT. With ADMIN_AUTH=disabled (the
 * config requires a key otherwise) they answer anyone who can connect, so they listen on
 * loopback only, whatever HOST says.
 */
export function adminService(config: DeepReadonly<AdminConfig>, logger: Logger): HttpServiceDefinition {
  const open = config.ADMIN_AUTH === 'disabled';
  if (open) {
    logger.warn('ADMIN_AUTH=disabled: the admin API needs no key, so it listens on 127.0.0.1 only (set ADMIN_API_KEY to serve it on HOST)');
  }
  return {
    service: 'admin',
    port: config.ADMIN_PORT,
    ...(open ? { host: '127.0.0.1' } : {}),
    redisRole: 'producer',
    build: ({ backend, db, queues, checks, reportQueueError }) => {
      const producer = new JobProducer(queues, (error) => reportQueueError('queue error', error));
      return {
        app: createApp({
          logger,
          checks,
          backend,
          metrics: createMetricsRegistry('admin'),
          db,
          secrets: secretKeyringOf(config, logger),
          adminApiKey: open ? undefined : config.ADMIN_API_KEY,
          readOnlyApiKeys: config.ADMIN_READ_ONLY_API_KEYS,
          publicUrl: config.PUBLIC_URL,
          producer,
          outboundAllowedDestinations: config.OUTBOUND_ALLOWED_DESTINATIONS,
        }),
        release: () => producer.close(),
      };
    },
  };
}
