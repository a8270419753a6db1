import { Redis } from 'ioredis';

/**
 * - `worker`: BullMQ workers block on Redis and require commands to wait through reconnects
 *   (`maxRetriesPerRequest: null`); BullMQ refuses other settings.
 * - `producer`: processes that answer HTTP (ingress, admin) must fail fast when Redis is down
 *   rather than hang a request; Postgres holds what they accepted and the reconciler re-arms it.
 */
export type RedisRole = 'worker' | 'producer';

export interface RedisOptions {
  connectionName?: string;
  /** Connection errors (refused, reset) arrive here; ioredis keeps reconnecting by itself. */
  onError?: (error: Error) => void;
}

/** The one place Herald opens Redis connections (see SPEC §6: the queue backend lives here). */
export function createRedis(url: string, role: RedisRole, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: options.connectionName ?? `herald-${role}`,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    // A hung Redis must not hang an HTTP request either.
    ...(role === 'producer' ? { commandTimeout: 2_000 } : {}),
    connectTimeout: 5_000,
    // On disconnect ioredis waits this long for a stream that may already be gone (its default
    // is 2 s, which holds a stopping process or a test run open for nothing).
    disconnectTimeout: 200,
    // Reconnect forever, backing off to one attempt every 2 s.
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', (error: Error) => options.onError?.(error));
  return redis;
}

/** PING with a deadline, for readiness probes: a worker connection would otherwise queue the
 *  command until Redis comes back and the probe would hang. */
export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`redis connection is ${redis.status}`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
