import { resolve } from 'node:path';
import { adminService } from '@herald/admin/service';
import {
  adminConfigSchema,
  chooseBackend,
  ConfigError,
  ingressConfigSchema,
  loadConfig,
  LOG_LEVELS,
  readEnvironment,
  workerConfigSchema,
  type HeraldBackend,
} from '@herald/config';
import { createDb, ensureDatabaseExists, startEmbeddedDatabase, type EmbeddedDatabase, type SecretKeyring } from '@herald/db';
import { ingressService } from '@herald/ingress/service';
import { createLogger, type Logger } from '@herald/logger';
import { migrateSchemas, runService, secretKeyringOf, startHttpService, type RunningService } from '@herald/service';
import { workerService } from '@herald/worker/service';
import { chooseAdminKey } from './admin-key';
import { chooseSecretKey } from './secret-key';

/**
 * `pnpm start`: the whole of Herald in one process — ingress, admin API and worker on their
 * usual ports — on one of two backends (SPEC §6, chosen by `chooseBackend`):
 * - embedded (nothing configured): the database is PGlite in HERALD_DATA_DIR
 *   (`./.herald/data`), served inside this process on loopback, and the queues live in it too;
 *   nothing else to install or run;
 * - services: the Postgres of DATABASE_URL and the Redis of REDIS_URL, as in production.
 * Migrations are applied first. SIGTERM or Ctrl+C stops the ingress (no new calls), then the
 * worker (running jobs finish or are handed back), then the admin API, then the database.
 */
const DEFAULT_DATA_DIR = './.herald/data';

interface Settings {
  backend: HeraldBackend;
  env: Record<string, string | undefined>;
  adminAuth: string;
  credentialsEncryption: string;
}

function readSettings(): Settings {
  const admin = chooseAdminKey(process.env, readEnvironment(process.env));
  const { env, source } = chooseSecretKey(process.env, admin.env);
  return { backend: chooseBackend(env), env, adminAuth: admin.source, credentialsEncryption: source };
}

async function start(logger: Logger, { backend, env, adminAuth, credentialsEncryption }: Settings): Promise<RunningService> {
  let database: EmbeddedDatabase | undefined;
  let serviceEnv = env;
  if (backend === 'embedded') {
    const dataDir = resolve(env['HERALD_DATA_DIR'] || DEFAULT_DATA_DIR);
    database = await startEmbeddedDatabase({
      dataDir,
      port: Number(env['EMBEDDED_DB_PORT'] || 0),
      onLongWait: (waitedMs) => logger.warn('a transaction has kept the embedded database busy', { waitedMs }),
    });
    logger.info('embedded database ready', { dataDir, url: database.url });
    // The services connect to it as to any Postgres, and keep their queues in it.
    serviceEnv = { ...env, DATABASE_URL: database.url, QUEUE_BACKEND: 'postgres', HERALD_BACKEND: 'embedded' };
  } else {
    serviceEnv = { ...env, HERALD_BACKEND: 'services' };
  }
  try {
    const ingress = loadConfig(ingressConfigSchema, serviceEnv);
    const admin = loadConfig(adminConfigSchema, serviceEnv);
    const worker = loadConfig(workerConfigSchema, serviceEnv);
    // With a key, the migrate step also seals credentials saved before it (or under an older key).
    await migrate(logger, ingress.DATABASE_URL, ingress.QUEUE_BACKEND === 'postgres', admin.HERALD_SECRET_KEY ? secretKeyringOf(admin, logger) : undefined);

    // Each service logs as it would in a process of its own.
    const loggers = {
      ingress: createLogger({ service: 'ingress', level: ingress.LOG_LEVEL }),
      worker: createLogger({ service: 'worker', level: worker.LOG_LEVEL }),
      admin: createLogger({ service: 'admin', level: admin.LOG_LEVEL }),
    };
    const adminDefinition = adminService(admin, loggers.admin);
    const started: RunningService[] = [];
    try {
      started.push(await startHttpService(ingressService(ingress, loggers.ingress), ingress, loggers.ingress));
      started.push(await startHttpService(workerService(worker, loggers.worker), worker, loggers.worker));
      started.push(await startHttpService(adminDefinition, admin, loggers.admin));
    } catch (error) {
      for (const service of started) await service.stop();
      throw error;
    }
    logger.info('herald is running', {
      backend,
      ingress: `http://${ingress.HOST}:${ingress.INGRESS_PORT}`,
      // Where the admin service chose to listen (loopback without a key).
      admin: `http://${adminDefinition.host ?? admin.HOST}:${admin.ADMIN_PORT}`,
      // Not `adminKey`: the logger redacts fields named like a key, and this says where it comes from.
      adminAuth,
      // Not `secretKey` (redacted like any key): where HERALD_SECRET_KEY came from, never the key.
      credentialsEncryption,
    });
    return {
      async stop() {
        for (const service of started) await service.stop(); // ingress, worker, admin
        await database?.close();
      },
    };
  } catch (error) {
    await database?.close();
    throw error;
  }
}

/** Herald's schema, and BullMQ's when the queues live in the database too. */
async function migrate(logger: Logger, url: string, queuesInDatabase: boolean, secrets: SecretKeyring | undefined): Promise<void> {
  if (await ensureDatabaseExists(url)) logger.info('database created');
  const db = createDb({ url, poolSize: 1, applicationName: 'herald-migrate' });
  try {
    await migrateSchemas(db, url, queuesInDatabase, logger, secrets);
  } finally {
    await db.destroy();
  }
}

function main(): void {
  let settings: Settings;
  try {
    settings = readSettings();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  // The services validate LOG_LEVEL with the rest; this first logger only needs a sane one.
  const level = LOG_LEVELS.find((l) => l === settings.env['LOG_LEVEL']) ?? 'info';
  const logger = createLogger({ service: 'herald', level });
  logger.info('starting', { backend: settings.backend });
  void runService({
    logger,
    shutdownTimeoutMs: Number(settings.env['SHUTDOWN_TIMEOUT_MS'] || 8_000) + 2_000,
    start: () =>
      start(logger, settings).catch((error: unknown) => {
        // Configuration problems are the user's to fix: say them plainly, not as a stack.
        if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`);
        throw error;
      }),
  });
}

main();
