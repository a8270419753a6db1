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

/** The hook's abuse limits: in Redis beside the queues, so every ingress process counts together. */
function hookRateLimits(config: DeepReadonly<IngressConfig>, queues: QueueBackend, logger: Logger): HookRateLimits {
  const windowMs = config.HOOK_RATE_LIMIT_WINDOW_MS;
  const onUnavailable = (error: Error | null) =>
    error
      ? logger.warn('hook rate limits unavailable (Redis): calls are let through until it answers', { error })
      : logger.info('hook rate limits available again');
  const limiter = (limit: number): CallRateLimiter | null => {
    if (limit === 0) return null;
    return queues.kind === 'redis'
      ? new RedisRateLimiter(queues.connection, `${queues.prefix}:hook-rate`, { limit, windowMs }, onUnavailable)
      : new LocalRateLimiter({ limit, windowMs });
  };
  return { perAddress: limiter(config.HOOK_RATE_LIMIT_PER_ADDRESS), perBroadcast: limiter(config.HOOK_RATE_LIMIT_PER_BROADCAST) };
}
