import type { DeepReadonly, IngressConfig } from '@herald/config';
import type { Logger } from '@herald/logger';
import { JobProducer, type QueueBackend } from '@herald/queue';
import { createMetricsRegistry, secretKeyringOf, type HttpServiceDefinition } from '@herald/service';
import { createApp } from './app';
import { createHookDeps } from './hooks/accept-hook-call';
import { HookBroadcastCache } from './hooks/broadcast-cache';
import { LocalRateLimiter, RedisRateLimiter, type CallRateLimiter, type HookRateLimits } from './hooks/call-rate-limit';
import { AddressList } from './hooks/caller-address';

/** The public ingress: the launch web hook (SPEC §3), providers' callbacks and the probes, on INGRESS_PORT. */
export function ingressService(config: DeepReadonly<IngressConfig>, logger: Logger): HttpServiceDefinition {
  return {
    service: 'ingress',
    port: config.INGRESS_PORT,
    // Fail fast when Redis is down: an accepted trigger is already safe in Postgres.
    redisRole: 'producer',
    build: ({ backend, db, queues, checks, reportQueueError }) => {
      const producer = new JobProducer(queues, (error) => reportQueueError('queue error', error));
      const deps = createHookDeps({
        db,
        producer,
        logger,
        broadcasts: new HookBroadcastCache(db),
        maxTargetsPerCall: config.MAX_TARGETS_PER_CALL,
        rateLimits: hookRateLimits(config, queues, logger),
      });
      const app = createApp({
        logger,
        checks,
        backend,
        metrics: createMetricsRegistry('ingress'),
        probeDetailsFrom: new AddressList(config.INGRESS_PROBE_DETAILS_FROM),
        hooks: {
          deps,
          trustedProxies: config.TRUSTED_PROXIES.length ? new AddressList(config.TRUSTED_PROXIES) : null,
          bodyLimitBytes: config.HOOK_BODY_LIMIT_BYTES,
          notFoundPerMinute: config.HOOK_NOT_FOUND_PER_MINUTE,
        },
        // Meta sends up to 1,000 statuses in one call: the hook's body limit (1 MiB) holds them.
        callbacks: { db, secrets: secretKeyringOf(config, logger), publicUrl: config.PUBLIC_URL, bodyLimitBytes: config.HOOK_BODY_LIMIT_BYTES },
      });
      return {
        app,
        release: async () => {
          await deps.inFlight.drained(); // calls whose caller hung up are not awaited by the server
          await producer.close();
        },
      };
    },
  };
}
