import { migrateToLatest, type Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import { migrateQueueSchema, postgresQueueBackend } from '@herald/queue';

/**
 * `migrate up`, for the migrate command and `pnpm start`: Herald's schema to the latest, then
 * BullMQ's (its own, versioned apart) when the queues live in this database too.
 */
export async function migrateSchemas(db: Db, url: string, queuesInDatabase: boolean, logger: Logger): Promise<void> {
  const outcome = await migrateToLatest(db);
  logger.info(outcome.applied.length ? 'migrations applied' : 'schema is up to date', outcome);
  if (queuesInDatabase) {
    const version = await migrateQueueSchema(postgresQueueBackend(url));
    logger.info('queue schema is up to date', { version });
  }
}
