import type { Express } from 'express';
import type { CommonConfig } from '@herald/config';
import type { Logger } from '@herald/logger';
import type { RedisRole } from '@herald/queue';
import { openConnections, type Connections } from './connections';
import { closeServer, listen } from './http-server';
import { runClustered } from './cluster';
import { runService } from './lifecycle';

export interface HttpServiceOptions {
  service: string;
  config: Pick<CommonConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE' | 'REDIS_URL' | 'HOST' | 'SHUTDOWN_TIMEOUT_MS'>;
  logger: Logger;
  port: number;
  redisRole: RedisRole;
  /** Processes sharing the port (node:cluster, see runClustered); 1 by default. */
  processes?: number;
  /**
   * Builds the process's app from its open connections. On shutdown `stopWork` (background
   * work, e.g. the worker's BullMQ workers) runs first, then the server closes, then
   * `release` (what in-flight requests still needed, e.g. queue producers), then the
   * connections close.
   */
  build(connections: Connections): { app: Express; stopWork?: () => Promise<void>; release?: () => Promise<void> };
}

/**
 * The whole life of a Herald process: open Postgres and Redis, build the app, listen, and on
 * SIGTERM stop background work, close the server, close the connections, exit 0 — in this
 * process, or in each of `processes` cluster workers.
 */
export function runHttpService({ service, config, logger, port, redisRole, processes = 1, build }: HttpServiceOptions): void {
  runClustered({ processes, logger, shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS, serve: () => serve({ service, config, logger, port, redisRole, build }) });
}

function serve({ service, config, logger, port, redisRole, build }: HttpServiceOptions): void {
  void runService({
    logger,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    async start() {
      const connections = openConnections(config, logger, service, redisRole);
      const { app, stopWork, release } = build(connections);
      const server = await listen(app, port, config.HOST);
      logger.info(`${service} listening`, { host: config.HOST, port });
      return {
        async stop() {
          await stopWork?.();
          await closeServer(server);
          await release?.();
          await connections.close();
        },
      };
    },
  });
}
