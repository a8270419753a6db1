import {
  createPostgresBackend,
  Queue,
  runMigrations,
  Worker,
  type BackendFactory,
  type PostgresPoolConfig,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
import { Client } from 'pg';
import { hasHashTag, type RedisConnection } from './connection';

/**
 * Where the queues live (SPEC §6), chosen in one place (`openQueueBackend` in the service
 * package):
 * - `redis`: BullMQ on Redis, for production and scale; every queue key starts with `prefix`.
 * - `postgres`: BullMQ 6's Postgres backend, in `schema` of the database at `url` — the
 *   embedded mode keeps its queues in the same PGlite database as its data, so one folder
 *   holds everything and nothing is lost apart.
 */
export type QueueBackend = RedisQueueBackend | PostgresQueueBackend;

export interface RedisQueueBackend {
  kind: 'redis';
  connection: RedisConnection;
  prefix: string;
}

export interface PostgresQueueBackend {
  kind: 'postgres';
  url: string;
  schema: string;
}

/**
 * On a Redis Cluster the prefix must carry a hash tag (`{herald}`): BullMQ's scripts touch
 * several keys of a queue at once, which a cluster allows only within one slot. The config
 * refuses such a prefix already; this stops a caller that built its own.
 */
export function redisQueueBackend(connection: RedisConnection, prefix: string): RedisQueueBackend {
  if (connection.isCluster && !hasHashTag(prefix)) {
    throw new Error(`queue prefix "${prefix}" has no hash tag, which a Redis Cluster needs: use {${prefix}}`);
  }
  return { kind: 'redis', connection, prefix };
}

/** The schema BullMQ's tables and functions live in on the Postgres backend. */
const QUEUE_SCHEMA = 'bullmq';

export function postgresQueueBackend(url: string): PostgresQueueBackend {
  return { kind: 'postgres', url, schema: QUEUE_SCHEMA };
}

/**
 * Connections per BullMQ Queue or Worker on Postgres (BullMQ gives each its own pool, plus a
 * LISTEN connection per Worker). Small: on the embedded database every connection shares one
 * session anyway.
 */
const POSTGRES_POOL_SIZE = 3;

/** A BullMQ Queue on the backend; `options` are everything but the connection. */
export function createQueue(backend: QueueBackend, name: string, options: Omit<QueueOptions, 'connection' | 'prefix'> = {}): Queue {
  const { options: connection, factory } = bullmqOptions(backend);
  // BullMQ types each backend's Queue apart; Herald uses only what both offer.
  return factory ? (new Queue(name, { ...options, ...connection }, factory) as unknown as Queue) : new Queue(name, { ...options, ...connection });
}

/** A BullMQ Worker on the backend; `options` are everything but the connection. */
export function createWorker(backend: QueueBackend, name: string, processor: Processor, options: Omit<WorkerOptions, 'connection' | 'prefix'>): Worker {
  const { options: connection, factory } = bullmqOptions(backend);
  return factory
    ? (new Worker(name, processor, { ...options, ...connection }, factory) as unknown as Worker)
    : new Worker(name, processor, { ...options, ...connection });
}

/** What a BullMQ Queue or Worker constructor takes on this backend: options, and a factory. */
function bullmqOptions(backend: QueueBackend): {
  options: { connection: RedisConnection; prefix: string } | { connection: PostgresPoolConfig };
  factory: BackendFactory | undefined;
} {
  if (backend.kind === 'redis') return { options: { connection: backend.connection, prefix: backend.prefix }, factory: undefined };
  return {
    options: { connection: { connectionString: backend.url, schema: backend.schema, max: POSTGRES_POOL_SIZE, application_name: 'herald-queues' } },
    factory: createPostgresBackend as BackendFactory,
  };
}

/**
 * Creates or upgrades BullMQ's schema on the Postgres backend (its own migrations, versioned
 * apart from Herald's). Herald's `migrate up` runs it when the queues live in Postgres.
 */
export async function migrateQueueSchema(backend: PostgresQueueBackend): Promise<number> {
  const client = new Client({ connectionString: backend.url });
  await client.connect();
  try {
    return await runMigrations(client, backend.schema);
  } finally {
    await client.end();
  }
}
