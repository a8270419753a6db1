import { migrateConfigSchema } from '@herald/config';
import { createDb, ensureDatabaseExists, migrateDown, migrationStatus } from '@herald/db';
import { createLogger } from '@herald/logger';
import { loadServiceConfigOrExit, migrateSchemas } from '@herald/service';

/**
 * `node apps/migrate/dist/main.js [up|down|status]` — applies every pending migration (up, the
 * default), reverts the latest one (down), or lists them (status). Run once before the
 * processes start: by `pnpm start`, and by the one-shot `migrate` service in docker compose.
 */
const COMMANDS = ['up', 'down', 'status'] as const;
type Command = (typeof COMMANDS)[number];

function isCommand(value: string): value is Command {
  return (COMMANDS as readonly string[]).includes(value);
}

async function main(): Promise<number> {
  const command = process.argv[2] ?? 'up';
  if (!isCommand(command)) {
    process.stderr.write(`usage: migrate [${COMMANDS.join('|')}]\n`);
    return 2;
  }
  const config = loadServiceConfigOrExit(migrateConfigSchema, process.env);
  const logger = createLogger({ service: 'migrate', level: config.LOG_LEVEL });
  if (command === 'up') {
    try {
      if (await ensureDatabaseExists(config.DATABASE_URL)) logger.info('database created');
    } catch (error) {
      logger.error('cannot reach or create the database', { error });
      return 1;
    }
  }
  const db = createDb({ url: config.DATABASE_URL, poolSize: 1, applicationName: 'herald-migrate' });
  try {
    switch (command) {
      case 'up': {
        await migrateSchemas(db, config.DATABASE_URL, config.QUEUE_BACKEND === 'postgres', logger);
        break;
      }
      case 'down': {
        const outcome = await migrateDown(db);
        logger.info(outcome.applied.length ? 'migration reverted' : 'nothing to revert', outcome);
        break;
      }
      case 'status': {
        for (const m of await migrationStatus(db)) {
          process.stdout.write(`${m.executedAt ? m.executedAt.toISOString() : 'pending                 '}  ${m.name}\n`);
        }
        break;
      }
    }
    return 0;
  } catch (error) {
    logger.error('migration failed', { error });
    return 1;
  } finally {
    await db.destroy();
  }
}

void main().then((code) => process.exit(code));
