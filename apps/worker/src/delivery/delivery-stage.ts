import type { Registry } from 'prom-client';
import type { RetryPolicy } from '@herald/core';
import type { Db, SecretKeyring } from '@herald/db';
import type { Logger } from '@herald/logger';
import { LocalThrottle, RedisThrottle, createOutboundClient, type ConnectionThrottle } from '@herald/channels';
import type { QueueBackend } from '@herald/queue';
import type { DeliveryStage } from '../worker-context';
import { createDeliveryMetrics } from './delivery-metrics';
import { InFlightLimit } from './in-flight-limit';
import { OutcomeRecorder } from './outcome-recorder';

export interface DeliveryStageOptions {
  db: Db;
  logger: Logger;
  /** Where the queues are: the throttle is shared through Redis, or kept in this one process. */
  queues: QueueBackend;
  metrics: Registry;
  /** Opens the connections' credentials (HERALD_SECRET_KEY and the previous keys). */
  secrets: SecretKeyring;
  /** Provider requests in flight per process (DELIVERY_CONCURRENCY). */
  concurrency: number;
  claimBatch: number;
  leaseMs: number;
  retryPolicy: RetryPolicy;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  /** Private or loopback destinations a connection may still send to (tests, on-premise). */
  allowedDestinations: readonly string[];
}

/**
 * What the delivery processor needs besides the database, built once per worker process:
 * one pooled outbound HTTP client, the throttles, the in-flight limit. `stop()`
 * makes running chunks hand their rest back (SIGTERM); `close()` releases the client's sockets.
 */
export function createDeliveryStage(options: DeliveryStageOptions): DeliveryStage & { stop(): void; close(): Promise<void> } {
  const http = createOutboundClient({
    allowedDestinations: options.allowedDestinations,
    connectTimeoutMs: options.connectTimeoutMs,
    responseTimeoutMs: options.responseTimeoutMs,
    // Every request this process may have in flight can have a connection of its own.
    maxConnectionsPerOrigin: options.concurrency,
  });
  const stopping = new AbortController();
  return {
    http,
    secrets: options.secrets,
    throttle: throttleFor(options.queues),
    inFlight: new InFlightLimit(options.concurrency),
    retryPolicy: options.retryPolicy,
    claimBatch: Math.min(options.claimBatch, options.concurrency),
    leaseMs: options.leaseMs,
    metrics: createDeliveryMetrics(options.metrics),
    stopping: stopping.signal,
    plans: new Map(),
    recorder: new OutcomeRecorder(options.db, options.logger),
    stop: () => stopping.abort(),
    close: () => http.close(),
  };
}

/**
 * The send-rate state is shared by every worker through Redis. With the queues in Postgres
 * (the embedded mode) one process does all the sending, so it keeps the state itself.
 */
function throttleFor(queues: QueueBackend): ConnectionThrottle {
  return queues.kind === 'redis' ? new RedisThrottle(queues.connection, queues.prefix) : new LocalThrottle();
}
