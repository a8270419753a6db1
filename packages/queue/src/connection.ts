import { Cluster, Redis, type RedisOptions as IORedisOptions } from 'ioredis';

/**
 * - `worker`: BullMQ workers block on Redis and require commands to wait through reconnects
 *   (`maxRetriesPerRequest: null`); BullMQ refuses other settings.
 * - `producer`: processes that answer HTTP (ingress, admin) must fail fast when Redis is down
 *   rather than hang a request; Postgres holds what they accepted and the reconciler re-arms it.
 */
export type RedisRole = 'worker' | 'producer';

/** A connection to one Redis server, or to a Redis Cluster: BullMQ and the throttle take both. */
export type RedisConnection = Redis | Cluster;

export interface RedisOptions {
  connectionName?: string;
  /** Connection errors (refused, reset) arrive here; ioredis keeps reconnecting by itself. */
  onError?: (error: Error) => void;
  /**
   * `url` is one node of a Redis Cluster (a managed service's configuration endpoint will do),
   * and `nodes` (`host:port`) are more seeds to start from. Every node is reached with the
   * URL's user name, password and TLS (`rediss://`).
   */
  cluster?: { nodes: readonly string[] };
}

/** Reconnect forever, backing off to one attempt every 2 s. */
const backOff = (attempt: number) => Math.min(attempt * 200, 2_000);

/** The one place Herald opens Redis connections (see SPEC §6: the queue backend lives here). */
export function createRedis(url: string, role: RedisRole, options?: RedisOptions & { cluster?: undefined }): Redis;
export function createRedis(url: string, role: RedisRole, options: RedisOptions): RedisConnection;
export function createRedis(url: string, role: RedisRole, options: RedisOptions = {}): RedisConnection {
  const perNode: IORedisOptions = {
    connectionName: options.connectionName ?? `herald-${role}`,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    // A hung Redis must not hang an HTTP request either.
    ...(role === 'producer' ? { commandTimeout: 2_000 } : {}),
    connectTimeout: 5_000,
    // On disconnect ioredis waits this long for a stream that may already be gone (its default
    // is 2 s, which holds a stopping process or a test run open for nothing).
    disconnectTimeout: 200,
  };
  const redis = options.cluster
    ? new Cluster(clusterSeeds(url, options.cluster.nodes), {
        // The role's settings hold on every node's connection; the offline queue and the
        // reconnects belong to the cluster client (ioredis takes them from there only).
        redisOptions: { ...perNode, ...credentialsOf(url) },
        enableOfflineQueue: role === 'worker',
        clusterRetryStrategy: backOff,
      })
    : new Redis(url, { ...perNode, enableOfflineQueue: role === 'worker', retryStrategy: backOff });
  redis.on('error', (error: Error) => options.onError?.(error));
  return redis;
}

/** The URL's node first, then the other seeds (`host:port`, IPv6 in brackets). */
function clusterSeeds(url: string, nodes: readonly string[]): { host: string; port: number }[] {
  const { hostname, port } = new URL(url);
  return [`${hostname}:${port || 6379}`, ...nodes].map((node) => {
    const at = node.lastIndexOf(':');
    return { host: node.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(node.slice(at + 1)) };
  });
}

/** What a cluster's nodes are reached with, from the URL: its user, password and TLS. */
function credentialsOf(url: string): Pick<IORedisOptions, 'username' | 'password' | 'tls'> {
  const { username, password, protocol } = new URL(url);
  return {
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    ...(protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * Whether `key` has a Redis Cluster hash tag: a non-empty part between its first `{` and the
 * next `}`. Only that part is hashed, so keys sharing a tag share a slot — what BullMQ's
 * multi-key scripts need on a cluster (every key of a queue starts with the prefix).
 */
export function hasHashTag(key: string): boolean {
  return /^[^{]*\{[^}]+\}/.test(key);
}

/**
 * PING with a deadline, for readiness probes: a worker connection would otherwise queue the
 * command until Redis comes back and the probe would hang. On a cluster a PING answers from
 * any node, even while the master of Herald's slot is down; there `slotKey` (a key under the
 * prefix) is read instead, which only the node serving that slot can answer.
 */
export async function pingRedis(redis: RedisConnection, timeoutMs = 1_000, slotKey?: string): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`redis connection is ${redis.status}`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([redis.isCluster && slotKey ? redis.exists(slotKey) : redis.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
