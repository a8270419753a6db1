import BaseJoi from 'joi';

/** Adds `Joi.commaList()`: an array that also accepts "a, b, c" (how lists arrive in env vars). */
const Joi = BaseJoi.extend((joi) => ({
  type: 'commaList',
  base: joi.array(),
  coerce: {
    from: 'string',
    method: (value: string) => ({
      value: value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    }),
  },
})) as BaseJoi.Root & { commaList(): BaseJoi.ArraySchema };

/**
 * Herald's settings, one joi rule per environment variable (SPEC §6). Each process validates
 * only what it uses, so the public ingress never needs (or sees) the admin key.
 * docs/operations.md's configuration table mirrors this file.
 */

export type NodeEnv = 'development' | 'test' | 'production';
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CommonConfig {
  NODE_ENV: NodeEnv;
  LOG_LEVEL: LogLevel;
  DATABASE_URL: string;
  DATABASE_POOL_SIZE: number;
  REDIS_URL: string;
  QUEUE_BACKEND: QueueBackendKind;
  HERALD_BACKEND: 'embedded' | 'services';
  QUEUE_PREFIX: string;
  HOST: string;
  SHUTDOWN_TIMEOUT_MS: number;
}

/** `key`: every admin route needs ADMIN_API_KEY. `disabled`: none does, so the admin listens on loopback only. */
export type AdminAuth = 'key' | 'disabled';

/** Where the job queues live: Redis (REDIS_URL), or Postgres beside the data (DATABASE_URL). */
export type QueueBackendKind = 'redis' | 'postgres';

export interface IngressConfig extends CommonConfig {
  INGRESS_PORT: number;
  TRUSTED_PROXIES: string[];
  HOOK_BODY_LIMIT_BYTES: number;
  MAX_TARGETS_PER_CALL: number;
  HOOK_NOT_FOUND_PER_MINUTE: number;
  INGRESS_PROBE_DETAILS_FROM: string[];
  INGRESS_PROCESSES: number;
  PUBLIC_URL: string | undefined;
}

export interface AdminConfig extends CommonConfig {
  ADMIN_PORT: number;
  INGRESS_PORT: number;
  PUBLIC_URL: string;
  ADMIN_AUTH: AdminAuth;
  ADMIN_API_KEY: string | undefined;
  OUTBOUND_ALLOWED_DESTINATIONS: string[];
}

export interface WorkerConfig extends CommonConfig {
  WORKER_PORT: number;
  WORKER_CONCURRENCY: number;
  RECONCILE_INTERVAL_MS: number;
  DISPATCH_STUCK_AFTER_MS: number;
  DISPATCH_MAX_POSTPONE_MS: number;
  DISPATCH_STATEMENT_TIMEOUT_MS: number;
  DISPATCH_BATCH_TRIGGERS: number;
  WORKER_STALLED_INTERVAL_MS: number;
  DELIVERY_CHUNK_SIZE: number;
  WORKER_QUEUES: string[];
  DELIVERY_CHUNK_CONCURRENCY: number;
  DELIVERY_CONCURRENCY: number;
  DELIVERY_CLAIM_BATCH: number;
  DELIVERY_LEASE_MS: number;
  DELIVERY_MAX_ATTEMPTS: number;
  DELIVERY_RETRY_BASE_MS: number;
  DELIVERY_RETRY_MAX_MS: number;
  DELIVERY_STALLED_AFTER_MS: number;
  PROVIDER_CONNECT_TIMEOUT_MS: number;
  PROVIDER_TIMEOUT_MS: number;
  OUTBOUND_ALLOWED_DESTINATIONS: string[];
}

export interface MigrateConfig {
  NODE_ENV: NodeEnv;
  LOG_LEVEL: LogLevel;
  DATABASE_URL: string;
  /** postgres: BullMQ's schema is migrated too. */
  QUEUE_BACKEND: QueueBackendKind;
}

/** Queue names as the catalog of @herald/queue spells them (config depends on no package). */
export const WORKER_QUEUE_NAMES = [
  'dispatch',
  'maintenance',
  'deliver-whatsapp',
  'deliver-sms',
  'deliver-rcs',
  'deliver-telegram',
  'deliver-messenger',
  'deliver-web',
  'deliver-custom',
] as const;

const port = (fallback: number) => Joi.number().integer().min(1).max(65535).default(fallback);

const nodeEnv = Joi.string().valid('development', 'test', 'production').default('development');
const logLevel = Joi.string()
  .valid(...LOG_LEVELS)
  .default('info');
const databaseUrl = Joi.string()
  .uri({ scheme: ['postgres', 'postgresql'] })
  .default('postgres://postgres@127.0.0.1:5432/herald');

/**
 * Destinations a channel connection may send to although they are private, loopback or
 * link-local (refused by default: SSRF). IPs, CIDRs or exact host names.
 */
const outboundAllowedDestinations = Joi.commaList()
  .items(Joi.alternatives(Joi.string().ip({ cidr: 'optional' }), Joi.string().hostname()))
  .default([]);

const common = {
  NODE_ENV: nodeEnv,
  LOG_LEVEL: logLevel,
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: Joi.number().integer().min(1).max(500).default(10),
  REDIS_URL: Joi.string()
    .uri({ scheme: ['redis', 'rediss'] })
    .default('redis://127.0.0.1:6379'),
  // The embedded mode sets postgres; Redis is the production path.
  QUEUE_BACKEND: Joi.string().valid('redis', 'postgres').default('redis'),
  // Which of the two modes this is (see backend.ts); `/readyz` and the logs report it.
  HERALD_BACKEND: Joi.string().valid('embedded', 'services').default('services'),
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

// The base of every hook_url and callback_url the admin hands out. Guessed only outside
// production: a deployment that handed its integrators http://localhost:3000 URLs would fail
// at their end, not here.
const publicUrl = Joi.string()
  .uri({ scheme: ['http', 'https'] })
  .when('NODE_ENV', {
    is: 'production',
    then: Joi.required().messages({
      'any.required':
        'PUBLIC_URL is required in production: the address callers reach the ingress at, the base of every hook_url (e.g. https://hooks.example.com)',
    }),
    otherwise: Joi.optional().default((parent: { INGRESS_PORT: number }) => `http://localhost:${parent.INGRESS_PORT}`),
  });

export const ingressConfigSchema = Joi.object<IngressConfig>({
  ...common,
  INGRESS_PORT: port(3000),
  // Comma-separated IPs or CIDRs whose X-Forwarded-For is believed; empty = the socket address.
  TRUSTED_PROXIES: Joi.commaList()
    .items(Joi.string().ip({ cidr: 'optional' }))
    .default([]),
  HOOK_BODY_LIMIT_BYTES: Joi.number()
    .integer()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  MAX_TARGETS_PER_CALL: Joi.number().integer().min(1).max(1_000_000).default(10_000),
  // 404s one caller address may get per minute (per ingress process) before it is answered 429.
  HOOK_NOT_FOUND_PER_MINUTE: Joi.number().integer().min(1).max(1_000_000).default(60),
  // Who may read /metrics and /readyz's details on the public port (calling directly, not
  // through a proxy): loopback and private networks, where Prometheus and orchestrators are.
  INGRESS_PROBE_DETAILS_FROM: Joi.commaList()
    .items(Joi.string().ip({ cidr: 'optional' }))
    .default(['127.0.0.0/8', '::1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']),
  // Processes serving the ingress port (node:cluster); one core each. 1 = no cluster.
  INGRESS_PROCESSES: Joi.number().integer().min(1).max(64).default(1),
  // Optional here: Twilio's callback signatures cover the URL Twilio called. Unset, the ingress
  // rebuilds it from the request (Host, and http unless TLS ends here), which is wrong behind a
  // proxy that terminates TLS: set it to the admin's PUBLIC_URL there.
  PUBLIC_URL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .optional(),
});

export const adminConfigSchema = Joi.object<AdminConfig>({
  ...common,
  ADMIN_PORT: port(3001),
  INGRESS_PORT: port(3000),
  PUBLIC_URL: publicUrl,
  // The key is required in every environment: a development machine's admin API is as open to
  // its network as a server's. Turning auth off must be said out loud, and binds to loopback.
  ADMIN_AUTH: Joi.string().valid('key', 'disabled').default('key'),
  ADMIN_API_KEY: Joi.string()
    .min(16)
    .when('ADMIN_AUTH', {
      is: 'disabled',
      then: Joi.forbidden().messages({
        'any.unknown': 'ADMIN_API_KEY is set but ADMIN_AUTH=disabled: unset one of them',
      }),
      otherwise: Joi.required().messages({
        'any.required':
          'ADMIN_API_KEY is required (16 characters or more, e.g. `openssl rand -hex 24`); to serve the admin API without a key, on 127.0.0.1 only, set ADMIN_AUTH=disabled',
      }),
    }),
  // Checked when a connection is saved, so a refused base_url is a 400 rather than a fault later.
  OUTBOUND_ALLOWED_DESTINATIONS: outboundAllowedDestinations,
});

export const workerConfigSchema = Joi.object<WorkerConfig>({
  ...common,
  WORKER_PORT: port(3002),
  WORKER_CONCURRENCY: Joi.number().integer().min(1).max(1000).default(8),
  // How often the reconciler re-arms lost timers and retries stuck dispatches.
  RECONCILE_INTERVAL_MS: Joi.number().integer().min(100).max(3_600_000).default(10_000),
  // A dispatch whose heartbeat (every quarter of this) stopped this long ago is resumed elsewhere.
  DISPATCH_STUCK_AFTER_MS: Joi.number().integer().min(1_000).max(86_400_000).default(120_000),
  // For a broadcast without max_delay_ms: the most a stream of calls may postpone its dispatch
  // past its delay after the first pending call.
  DISPATCH_MAX_POSTPONE_MS: Joi.number().integer().min(1_000).max(86_400_000).default(600_000),
  // Each statement applying a trigger is cancelled past this and the trigger marked failed, so
  // no call can hold its broadcast's dispatch for good. Far above what a million-contact
  // audience statement takes (about 10 s on 2 cores).
  DISPATCH_STATEMENT_TIMEOUT_MS: Joi.number().integer().min(100).max(86_400_000).default(300_000),
  // Triggers applied per transaction: many small calls cost one commit, not one each.
  DISPATCH_BATCH_TRIGGERS: Joi.number().integer().min(1).max(10_000).default(500),
  // A job whose worker died is retried by another after about this long (BullMQ lock and
  // stalled-check period).
  WORKER_STALLED_INTERVAL_MS: Joi.number().integer().min(1_000).max(600_000).default(30_000),
  // Deliveries per job handed to a channel queue: bigger chunks mean fewer jobs, smaller ones
  // spread a run over more workers sooner.
  DELIVERY_CHUNK_SIZE: Joi.number().integer().min(1).max(10_000).default(1_000),
  // The queues this worker consumes (default: all), so dispatch and delivery can scale apart.
  WORKER_QUEUES: Joi.commaList()
    .items(Joi.string().valid(...WORKER_QUEUE_NAMES))
    .min(1)
    .default([...WORKER_QUEUE_NAMES]),
  // Delivery chunks one worker works on at once, per channel queue.
  DELIVERY_CHUNK_CONCURRENCY: Joi.number().integer().min(1).max(100).default(4),
  // Provider requests one worker has in flight at once, across channels: also the most a
  // crash of this worker can leave unrecorded (and send again).
  DELIVERY_CONCURRENCY: Joi.number().integer().min(1).max(2_000).default(100),
  // Deliveries claimed per statement.
  DELIVERY_CLAIM_BATCH: Joi.number().integer().min(1).max(1_000).default(50),
  // How long a claim holds its deliveries; a dead worker's are sent again after it.
  DELIVERY_LEASE_MS: Joi.number().integer().min(1_000).max(3_600_000).default(60_000),
  // Attempts per delivery (the first send included), and the backoff between them.
  DELIVERY_MAX_ATTEMPTS: Joi.number().integer().min(1).max(50).default(5),
  DELIVERY_RETRY_BASE_MS: Joi.number().integer().min(10).max(3_600_000).default(2_000),
  DELIVERY_RETRY_MAX_MS: Joi.number().integer().min(10).max(86_400_000).default(600_000),
  // A delivering run with due deliveries and no progress for this long gets its chunks again.
  DELIVERY_STALLED_AFTER_MS: Joi.number().integer().min(1_000).max(86_400_000).default(300_000),
  PROVIDER_CONNECT_TIMEOUT_MS: Joi.number().integer().min(100).max(120_000).default(5_000),
  // Whole provider answer (headers and body); a slower one is retried later.
  PROVIDER_TIMEOUT_MS: Joi.number().integer().min(100).max(300_000).default(15_000),
  OUTBOUND_ALLOWED_DESTINATIONS: outboundAllowedDestinations,
});

export const migrateConfigSchema = Joi.object<MigrateConfig>({
  NODE_ENV: nodeEnv,
  LOG_LEVEL: logLevel,
  DATABASE_URL: databaseUrl,
  QUEUE_BACKEND: common.QUEUE_BACKEND,
});
