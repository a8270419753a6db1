import { migrateConfigSchema } from '@herald/config';
import { createDb, credentialsByKey, ensureDatabaseExists, migrateDown, migrationStatus, SecretKeyring } from '@herald/db';
import { createLogger } from '@herald/logger';
import { loadServiceConfigOrExit, migrateSchemas, sealStoredCredentials, secretKeyringOf } from '@herald/service';

/**
 * `node apps/migrate/dist/main.js [up|down|status|secrets rotate|secrets status]` — applies
 * every pending migration (up, the default; with HERALD_SECRET_KEY it then seals the channel
 * credentials under it), reverts the latest one (down), or lists them (status). Run once before
 * the processes start: by `pnpm start`, and by the one-shot `migrate` service in docker compose.
 * `secrets rotate` seals every connection's credentials under the current HERALD_SECRET_KEY (in
 * small batches, while Herald runs); `secrets status` counts them by key.
 */
const COMMANDS = ['up', 'down', 'status', 'secrets rotate', 'secrets status'] as const;
type Command = (typeof COMMANDS)[number];

function isCommand(value: string): value is Command {
  return (COMMANDS as readonly string[]).includes(value);
}

async function main(): Promise<number> {
  const words = process.argv.slice(2);
  const command = words.length ? words.join(' ') : 'up';
  if (!isCommand(command)) {
    process.stderr.write(`usage: migrate [${COMMANDS.join('|')}]\n`);
    return 2;
  }
  const config = loadServiceConfigOrExit(migrateConfigSchema, process.env);
  const logger = createLogger({ service: 'migrate', level: config.LOG_LEVEL });
  if (command === 'secrets rotate' && !config.HERALD_SECRET_KEY) {
    process.stderr.write('secrets rotate seals under HERALD_SECRET_KEY: set it (and the keys used before it in HERALD_PREVIOUS_SECRET_KEYS)\n');
    return 2;
  }
  // Only with a key: `migrate up` without one has nothing to seal, and nothing to warn about.
  const secrets = config.HERALD_SECRET_KEY ? secretKeyringOf(config, logger) : SecretKeyring.none();
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
        await migrateSchemas(db, config.DATABASE_URL, config.QUEUE_BACKEND === 'postgres', logger, secrets);
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
      case 'secrets rotate': {
        const done = await sealStoredCredentials(db, secrets, logger);
        logger.info(done ? 'every channel connection is sealed under the current secret key' : 'some channel connections could not be opened', {
          currentKeyId: secrets.currentKeyId,
        });
        return done ? 0 : 1;
      }
      case 'secrets status': {
        // Key ids only: derived from the keys, they tell nothing of them.
        for (const { kid, connections } of await credentialsByKey(db)) {
          const state =
            kid === null ? 'plain text' : kid === secrets.currentKeyId ? 'current key' : secrets.keyIds().includes(kid) ? 'previous key' : 'unknown key';
          process.stdout.write(`${String(connections).padStart(8)}  ${kid ?? '-'.padEnd(16)}  ${state}\n`);
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
