import type { CommonConfig } from '@herald/config';
import { createDb, pingDb, type Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import { createRedis, pingRedis, postgresQueueBackend, redisQueueBackend, type QueueBackend, type RedisRole } from '@herald/queue';
import type { ReadinessChecks } from './health.router';
import { OutageLog } from './outage-log';

export interface Connections {
  /** `embedded` or `services` (HERALD_BACKEND), for `/readyz` and the logs. */
  backend: string;
  db: Db;
  /** Where the queues are: Redis (its connection in the role asked for), or the database. */
  queues: QueueBackend;
  /** Probes for `/readyz`: Postgres, and Redis when the queues are there. */
  checks: ReadinessChecks;
  /**
   * For the error events of what uses the queues (BullMQ queues and workers): a connection
   * error is part of an outage, logged once when it starts and once when it ends; anything
   * else is logged in full.
   */
  reportQueueError(message: string, error: Error, context?: Record<string, unknown>): void;
  close(): Promise<void>;
}

/**
 * Opens the Postgres pool and the Redis connection a process needs, with connection errors
 * routed to its log. Neither connects eagerly enough to fail the start: a process comes up
 * while a dependency is down, reports it on `/readyz`, and recovers when it returns.
 */
export function openConnections(
  config: Pick<CommonConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE' | 'REDIS_URL' | 'QUEUE_BACKEND' | 'QUEUE_PREFIX'> &
    Partial<Pick<CommonConfig, 'HERALD_BACKEND' | 'REDIS_CLUSTER' | 'REDIS_CLUSTER_NODES'>>,
  logger: Logger,
  service: string,
  redisRole: RedisRole,
): Connections {
  const db = createDb({
    url: config.DATABASE_URL,
    poolSize: config.DATABASE_POOL_SIZE,
    applicationName: `herald-${service}`,
    onPoolError: (error) => logger.warn('postgres connection error', { error }),
  });
  const backend = config.HERALD_BACKEND ?? 'services';
  if (config.QUEUE_BACKEND === 'postgres') {
    return {
      backend,
      db,
      queues: postgresQueueBackend(config.DATABASE_URL),
      checks: { postgres: () => pingDb(db) },
      reportQueueError: (message, error, context = {}) => logger.error(message, { ...context, error }),
      close: () => db.destroy(),
    };
  }
  const redisOutage = new OutageLog(logger, 'redis');
  const redis = createRedis(config.REDIS_URL, redisRole, {
    connectionName: `herald-${service}`,
    onError: (error) => redisOutage.report('redis connection error', error),
    ...(config.REDIS_CLUSTER ? { cluster: { nodes: config.REDIS_CLUSTER_NODES ?? [] } } : {}),
  });
  redis.on('ready', () => redisOutage.recovered());
  return {
    backend,
    db,
    queues: redisQueueBackend(redis, config.QUEUE_PREFIX),
    // On a cluster, ready means the master of the queues' slot answers (see pingRedis).
    checks: { postgres: () => pingDb(db), redis: () => pingRedis(redis, 1_000, `${config.QUEUE_PREFIX}:herald:probe`) },
    reportQueueError: (message, error, context) => redisOutage.report(message, error, context),
    async close() {
      await db.destroy();
      // quit() waits for Redis to answer; when Redis is down it would wait forever.
      if (redis.status === 'ready') await redis.quit();
      else redis.disconnect();
    },
  };
}
