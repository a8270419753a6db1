import { migrateToLatest, type Db, type SecretKeyring } from '@herald/db';
import type { Logger } from '@herald/logger';
import { migrateQueueSchema, postgresQueueBackend } from '@herald/queue';
import { sealStoredCredentials } from './secret-keyring';

/**
 * `migrate up`, for the migrate command and `pnpm start`: Herald's schema to the latest, then
 * BullMQ's (its own, versioned apart) when the queues live in this database too. With a
 * secret key, then the channel credentials sealed under it: a migration gets no settings, so
 * this is how rows stored before HERALD_SECRET_KEY was set get encrypted. A connection no key
 * opens is logged and does not stop the start (`secrets rotate` fails on it).
 */
export async function migrateSchemas(db: Db, url: string, queuesInDatabase: boolean, logger: Logger, secrets?: SecretKeyring): Promise<void> {
  const outcome = await migrateToLatest(db);
  logger.info(outcome.applied.length ? 'migrations applied' : 'schema is up to date', outcome);
  if (queuesInDatabase) {
    const version = await migrateQueueSchema(postgresQueueBackend(url));
    logger.info('queue schema is up to date', { version });
  }
  if (secrets?.sealing) await sealStoredCredentials(db, secrets, logger);
}
