import type { Server } from 'node:http';
import type { Express } from 'express';
import type { CommonConfig } from '@herald/config';
import type { Logger } from '@herald/logger';
import type { RedisRole } from '@herald/queue';
import { runClustered } from './cluster';
import { openConnections, type Connections } from './connections';
import { closeServer, listen } from './http-server';
import { runService, type RunningService } from './lifecycle';

export type HttpServiceConfig = Pick<
  CommonConfig,
  'DATABASE_URL' | 'DATABASE_POOL_SIZE' | 'REDIS_URL' | 'QUEUE_BACKEND' | 'QUEUE_PREFIX' | 'HOST' | 'SHUTDOWN_TIMEOUT_MS'
> &
  Partial<Pick<CommonConfig, 'HERALD_BACKEND' | 'REDIS_CLUSTER' | 'REDIS_CLUSTER_NODES'>>;

/** One Herald HTTP service (ingress, admin, worker): what it is and how to build it. */
export interface HttpServiceDefinition {
  service: string;
  port: number;
  /** Where to listen, when not HOST (the admin API without a key: loopback only). */
  host?: string;
  redisRole: RedisRole;
  /**
   * Builds the process's app from its open connections. On shutdown `stopWork` (background
   * work, e.g. the worker's BullMQ workers) runs first, then the server closes, then
   * `release` (what in-flight requests still needed, e.g. queue producers), then the
   * connections close.
   */
  build(connections: Connections): { app: Express; stopWork?: () => Promise<void>; release?: () => Promise<void> };
}

export interface HttpServiceOptions extends HttpServiceDefinition {
  config: HttpServiceConfig;
  logger: Logger;
  /** Processes sharing the port (node:cluster, see runClustered); 1 by default. */
  processes?: number;
}

/**
 * The whole life of a Herald process: open Postgres and the queues, build the app, listen,
 * and on SIGTERM stop background work, close the server, close the connections, exit 0 — in
 * this process, or in each of `processes` cluster workers.
 */
export function runHttpService({ config, logger, processes = 1, ...definition }: HttpServiceOptions): void {
  runClustered({
    processes,
    logger,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    serve: () => void runService({ logger, shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS, start: () => startHttpService(definition, config, logger) }),
  });
}

/**
 * Opens a service's connections, builds it and listens; resolves with how to stop it. For a
 * process of its own (`runHttpService`) or beside the others in one (`pnpm start`).
 */
export async function startHttpService(definition: HttpServiceDefinition, config: HttpServiceConfig, logger: Logger): Promise<RunningService> {
  const { service, port, redisRole, build } = definition;
  const host = definition.host ?? config.HOST;
  const connections = openConnections(config, logger, service, redisRole);
  const { app, stopWork, release } = build(connections);
  // The order of a stop; without a server when listening failed (background work, the
  // worker's queues, has started already and must stop all the same).
  const stop = async (server?: Server): Promise<void> => {
    await stopWork?.();
    if (server) await closeServer(server);
    await release?.();
    await connections.close();
  };
  const server = await listen(app, port, host).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  logger.info(`${service} listening`, { host, port, backend: connections.backend, queues: connections.queues.kind });
  return { stop: () => stop(server) };
}
