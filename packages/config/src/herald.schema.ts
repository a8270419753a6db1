import BaseJoi from 'joi';

/** Adds `Joi.commaList()`: an array that also accepts "a, b, c" (how lists arrive in env vars). */
const Joi = BaseJoi.extend((joi) => ({
  type: 'commaList',
  base: joi.array(),
  coerce: {
    from: 'string',
    method: (value: string) => ({ value: value.split(',').map((s) => s.trim()).filter(Boolean) }),
  },
})) as BaseJoi.Root & { commaList(): BaseJoi.ArraySchema };

/**
 * Herald's settings, one joi rule per environment variable (SPEC §6). Each process validates
 * only what it uses, so the public ingress never needs (or sees) the admin key.
 * The README's configuration table mirrors this file.
 */

export type NodeEnv = 'development' | 'test' | 'production';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface CommonConfig {
  NODE_ENV: NodeEnv;
  LOG_LEVEL: LogLevel;
  DATABASE_URL: string;
  DATABASE_POOL_SIZE: number;
  REDIS_URL: string;
  QUEUE_PREFIX: string;
  HOST: string;
  SHUTDOWN_TIMEOUT_MS: number;
}

export interface IngressConfig extends CommonConfig {
  INGRESS_PORT: number;
  TRUSTED_PROXIES: string[];
  HOOK_BODY_LIMIT_BYTES: number;
  MAX_TARGETS_PER_CALL: number;
}

export interface AdminConfig extends CommonConfig {
  ADMIN_PORT: number;
  INGRESS_PORT: number;
  PUBLIC_URL: string;
  ADMIN_API_KEY: string | undefined;
}

export interface WorkerConfig extends CommonConfig {
  WORKER_PORT: number;
  WORKER_CONCURRENCY: number;
  RECONCILE_INTERVAL_MS: number;
  DISPATCH_STUCK_AFTER_MS: number;
  WORKER_STALLED_INTERVAL_MS: number;
  DELIVERY_CHUNK_SIZE: number;
}

export interface MigrateConfig {
  NODE_ENV: NodeEnv;
  LOG_LEVEL: LogLevel;
  DATABASE_URL: string;
}

const port = (fallback: number) => Joi.number().integer().min(1).max(65535).default(fallback);

const nodeEnv = Joi.string().valid('development', 'test', 'production').default('development');
const logLevel = Joi.string().valid('error', 'warn', 'info', 'debug').default('info');
const databaseUrl = Joi.string()
  .uri({ scheme: ['postgres', 'postgresql'] })
  .default('postgres://postgres@127.0.0.1:5432/herald');

const common = {
  NODE_ENV: nodeEnv,
  LOG_LEVEL: logLevel,
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: Joi.number().integer().min(1).max(500).default(10),
  REDIS_URL: Joi.string().uri({ scheme: ['redis', 'rediss'] }).default('redis://127.0.0.1:6379'),
  // BullMQ key prefix. Braces allowed so a Redis Cluster deployment can hash-tag it ({herald}).
  QUEUE_PREFIX: Joi.string()
    .pattern(/^[A-Za-z0-9_.{}-]+$/)
    .max(64)
    .default('herald')
    .messages({ 'string.pattern.base': 'QUEUE_PREFIX may hold only letters, digits, underscores, dots, dashes and braces' }),
  HOST: Joi.string().ip().default('0.0.0.0'),
  // Below the 10 s that orchestrators usually wait between SIGTERM and SIGKILL.
  SHUTDOWN_TIMEOUT_MS: Joi.number().integer().min(100).max(600_000).default(8_000),
};

export const ingressConfigSchema = Joi.object<IngressConfig>({
  ...common,
  INGRESS_PORT: port(3000),
  // Comma-separated IPs or CIDRs whose X-Forwarded-For is believed; empty = the socket address.
  TRUSTED_PROXIES: Joi.commaList()
    .items(Joi.string().ip({ cidr: 'optional' }))
    .default([]),
  HOOK_BODY_LIMIT_BYTES: Joi.number().integer().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  MAX_TARGETS_PER_CALL: Joi.number().integer().min(1).max(1_000_000).default(10_000),
});

export const adminConfigSchema = Joi.object<AdminConfig>({
  ...common,
  ADMIN_PORT: port(3001),
  INGRESS_PORT: port(3000),
  PUBLIC_URL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default((parent: { INGRESS_PORT: number }) => `http://localhost:${parent.INGRESS_PORT}`),
  ADMIN_API_KEY: Joi.string()
    .min(16)
    .when('NODE_ENV', {
      is: 'development',
      then: Joi.optional(),
      otherwise: Joi.required().messages({ 'any.required': 'ADMIN_API_KEY is required outside development' }),
    }),
});

export const workerConfigSchema = Joi.object<WorkerConfig>({
  ...common,
  WORKER_PORT: port(3002),
  WORKER_CONCURRENCY: Joi.number().integer().min(1).max(1000).default(8),
  // How often the reconciler re-arms lost timers and retries stuck dispatches.
  RECONCILE_INTERVAL_MS: Joi.number().integer().min(100).max(3_600_000).default(10_000),
  // A dispatch whose heartbeat (every quarter of this) stopped this long ago is resumed elsewhere.
  DISPATCH_STUCK_AFTER_MS: Joi.number().integer().min(1_000).max(86_400_000).default(120_000),
  // A job whose worker died is retried by another after about this long (BullMQ lock and
  // stalled-check period).
  WORKER_STALLED_INTERVAL_MS: Joi.number().integer().min(1_000).max(600_000).default(30_000),
  // Deliveries per job handed to a channel queue: bigger chunks mean fewer jobs, smaller ones
  // spread a run over more workers sooner.
  DELIVERY_CHUNK_SIZE: Joi.number().integer().min(1).max(10_000).default(1_000),
});

export const migrateConfigSchema = Joi.object<MigrateConfig>({
  NODE_ENV: nodeEnv,
  LOG_LEVEL: logLevel,
  DATABASE_URL: databaseUrl,
});
