import BaseJoi from 'joi';
import { decodeSecretKey } from './secret-key';

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
  /** REDIS_URL is a node of a Redis Cluster; REDIS_CLUSTER_NODES are more seeds (`host:port`). */
  REDIS_CLUSTER: boolean;
  REDIS_CLUSTER_NODES: readonly string[];
  QUEUE_BACKEND: QueueBackendKind;
  HERALD_BACKEND: 'embedded' | 'services';
  QUEUE_PREFIX: string;
  HOST: string;
  SHUTDOWN_TIMEOUT_MS: number;
  HERALD_SECRET_KEY: string | undefined;
  HERALD_PREVIOUS_SECRET_KEYS: string[];
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
  HOOK_RATE_LIMIT_WINDOW_MS: number;
  HOOK_RATE_LIMIT_PER_ADDRESS: number;
  HOOK_RATE_LIMIT_PER_BROADCAST: number;
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
  ADMIN_READ_ONLY_API_KEYS: string[];
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
  RETENTION_DAYS: number;
  RETENTION_INTERVAL_MS: number;
  RETENTION_BATCH_SIZE: number;
  RETENTION_BATCH_PAUSE_MS: number;
}

export interface MigrateConfig {
  NODE_ENV: NodeEnv;
  LOG_LEVEL: LogLevel;
  DATABASE_URL: string;
  /** postgres: BullMQ's schema is migrated too. */
  QUEUE_BACKEND: QueueBackendKind;
  /** With a key, `migrate up` and `secrets rotate` seal channel credentials under it. */
  HERALD_SECRET_KEY: string | undefined;
  HERALD_PREVIOUS_SECRET_KEYS: string[];
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

/** `host:port` of a Redis Cluster node (an IPv6 address in brackets). */
const clusterNode = Joi.string()
  .pattern(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$/)
  .custom((value: string, helpers) => (Number(value.slice(value.lastIndexOf(':') + 1)) > 65535 ? helpers.error('string.pattern.base') : value))
  .messages({ 'string.pattern.base': '{#label} must be host:port, e.g. 10.0.0.5:6379' });

/**
 * A Redis Cluster hash tag: a non-empty part between the first `{` and the next `}`. Only that
 * part of a key is hashed, so every key under such a prefix lands in one slot.
 */
const HASH_TAG = /^[^{]*\{[^}]+\}/;

/** 32 bytes as 64 hex digits or base64 (decodeSecretKey); messages name the variable, never the value. */
const secretKey = Joi.string()
  .custom((value: string, helpers) => (decodeSecretKey(value) ? value : helpers.error('secretKey.invalid')))
  .messages({ 'secretKey.invalid': '{{#label}} must be 32 random bytes written as 64 hex digits or in base64 (e.g. `openssl rand -base64 32`)' });

/**
 * The keys that seal channel credentials in Postgres (AES-256-GCM, issue 13). The current one
 * seals and opens; the previous ones only open, so a key can be replaced without downtime (see
 * docs/operations.md, Secrets at rest). Required in production. Elsewhere a process without it
 * stores credentials in plain text and says so at start (`pnpm start` generates one into .env).
 */
const secretKeys = {
  HERALD_SECRET_KEY: secretKey.when('NODE_ENV', {
    is: 'production',
    then: Joi.required().messages({
      'any.required':
        'HERALD_SECRET_KEY is required in production: it encrypts channel credentials in the database (32 random bytes, e.g. `openssl rand -base64 32`)',
    }),
  }),
  HERALD_PREVIOUS_SECRET_KEYS: Joi.commaList()
    .items(secretKey)
    .default([])
    .when('HERALD_SECRET_KEY', {
      not: Joi.exist(),
      then: Joi.commaList().max(0).messages({ 'array.max': 'HERALD_PREVIOUS_SECRET_KEYS needs HERALD_SECRET_KEY: the previous keys only decrypt' }),
    }),
};

const common = {
  NODE_ENV: nodeEnv,
  LOG_LEVEL: logLevel,
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: Joi.number().integer().min(1).max(500).default(10),
  REDIS_URL: Joi.string()
    .uri({ scheme: ['redis', 'rediss'] })
    .default('redis://127.0.0.1:6379'),
  // More seeds of a Redis Cluster besides REDIS_URL's node; setting them means a cluster.
  REDIS_CLUSTER_NODES: Joi.commaList().items(clusterNode).default([]),
  // REDIS_URL is one node of a Redis Cluster (or a managed service's configuration endpoint).
  REDIS_CLUSTER: Joi.boolean()
    .default((parent: { REDIS_CLUSTER_NODES: string[] }) => parent.REDIS_CLUSTER_NODES.length > 0)
    .when('REDIS_CLUSTER_NODES', {
      is: Joi.array().min(1),
      then: Joi.valid(true).messages({ 'any.only': 'REDIS_CLUSTER is false, but REDIS_CLUSTER_NODES names the nodes of a cluster' }),
    }),
  // The embedded mode sets postgres; Redis is the production path.
  QUEUE_BACKEND: Joi.string().valid('redis', 'postgres').default('redis'),
  // Which of the two modes this is (see backend.ts); `/readyz` and the logs report it.
  HERALD_BACKEND: Joi.string().valid('embedded', 'services').default('services'),
  // BullMQ key prefix. Braces allowed so a Redis Cluster deployment can hash-tag it ({herald}).
  // On a cluster it must carry a hash tag: unset, it is {herald}; one set without a tag is
  // refused rather than rewritten, since the keys it names would not be the ones asked for.
  QUEUE_PREFIX: Joi.string()
    .pattern(/^[A-Za-z0-9_.{}-]+$/)
    .max(64)
    .default((parent: { REDIS_CLUSTER: boolean }) => (parent.REDIS_CLUSTER ? '{herald}' : 'herald'))
    .when('REDIS_CLUSTER', { is: true, then: Joi.string().pattern(HASH_TAG, 'hash tag') })
    .messages({
      'string.pattern.base': 'QUEUE_PREFIX may hold only letters, digits, underscores, dots, dashes and braces',
      'string.pattern.name':
        'QUEUE_PREFIX "{#value}" has no hash tag, which a Redis Cluster needs (all of a queue\'s keys in one slot): put it in braces, e.g. QUEUE_PREFIX=\\{herald}',
    }),
  HOST: Joi.string().ip().default('0.0.0.0'),
  // Below the 10 s that orchestrators usually wait between SIGTERM and SIGKILL.
  SHUTDOWN_TIMEOUT_MS: Joi.number().integer().min(100).max(600_000).default(8_000),
  ...secretKeys,
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
  // Abuse limits: hook calls per window per caller address and per broadcast, shared by every
  // ingress process through Redis (per process on the embedded backend); 0 turns one off.
  // The defaults (1,000 calls/s on average) are far above one integrator's traffic and well
  // below what floods one ingress. Behind a proxy, set TRUSTED_PROXIES, or every caller counts
  // as the proxy's address.
  HOOK_RATE_LIMIT_WINDOW_MS: Joi.number().integer().min(100).max(3_600_000).default(10_000),
  HOOK_RATE_LIMIT_PER_ADDRESS: Joi.number().integer().min(0).max(100_000_000).default(10_000),
  HOOK_RATE_LIMIT_PER_BROADCAST: Joi.number().integer().min(0).max(100_000_000).default(10_000),
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
  // Keys for people and tools that look but do not touch: the console and GET routes only.
  ADMIN_READ_ONLY_API_KEYS: Joi.commaList()
    .items(Joi.string().min(16).invalid(Joi.ref('...ADMIN_API_KEY')))
    .default([])
    .messages({ 'any.invalid': 'ADMIN_READ_ONLY_API_KEYS must not repeat ADMIN_API_KEY' }),
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
  // Finished runs (their deliveries, triggers and provider message ids) are deleted this many
  // days after they finished. 0, the default, keeps everything: an upgrade deletes nothing
  // until an operator chooses a horizon.
  RETENTION_DAYS: Joi.number().integer().min(0).max(36_500).default(0),
  // How often a retention pass starts; one runs at a time across every worker.
  RETENTION_INTERVAL_MS: Joi.number().integer().min(1_000).max(86_400_000).default(3_600_000),
  // Rows per delete statement (each its own short transaction), and the pause after each, which
  // leaves Postgres to the hook and the deliveries between batches. Gentle by default: on 2
  // cores the hook's p99 rose by 19 ms during a pass at these, by 144 ms at 5,000 rows per
  // batch (bench:retention); a pass only has what aged past the horizon since the last one.
  RETENTION_BATCH_SIZE: Joi.number().integer().min(1).max(100_000).default(1_000),
  RETENTION_BATCH_PAUSE_MS: Joi.number().integer().min(0).max(60_000).default(100),
});

export const migrateConfigSchema = Joi.object<MigrateConfig>({
  NODE_ENV: nodeEnv,
  LOG_LEVEL: logLevel,
  DATABASE_URL: databaseUrl,
  QUEUE_BACKEND: common.QUEUE_BACKEND,
  ...secretKeys,
});
