import { Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely';
import { Pool, type PoolClient } from 'pg';
import Cursor from 'pg-cursor';
import type { Database } from './schema';

export type Db = Kysely<Database>;

export interface DbOptions {
  url: string;
  poolSize?: number;
  /** Called for errors of pooled connections, idle or in use (e.g. Postgres restarted).
   *  Without a listener pg would crash the process on them; with one the pool reconnects. */
  onPoolError?: (error: Error) => void;
  /** How long to wait for a connection before failing, so a down database gives a fast 503. */
  connectTimeoutMs?: number;
  applicationName?: string;
}

/**
 * The one place Herald opens Postgres connections. Every process and test gets its database
 * handle here, so a change of driver or dialect (SPEC §6, the planned embedded mode) touches
 * this file only.
 */
export function createDb(options: DbOptions): Db {
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'herald',
  });
  pool.on('error', (error) => options.onPoolError?.(error));
  // A connection in use emits its errors on its client, not on the pool; unheard, pg crashes
  // the process when Postgres goes away mid-query (a restart, a failover, a network cut). The
  // query itself fails with the error and its caller retries; this keeps the process alive.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.onPoolError?.(error));
    prepareMarkedStatements(client);
  });
  // `cursor` enables Kysely's `.stream()`, which keeps memory flat over million-row reads.
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
}

/** A cheap round trip for readiness probes. */
export async function pingDb(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}

/**
 * Marks a statement to be planned once per connection: `prepared('claim_deliveries')` is put
 * at the start of its text. The delivery stage runs its claim and outcome statements thousands
 * of times a second with the same text; planning them each time cost Postgres more than
 * running some of them. Only marked statements are prepared, so a connection holds a few.
 * (Behind a transaction-mode pooler, use one that supports protocol-level prepared statements,
 * e.g. PgBouncer 1.21+.)
 */
export function prepared(name: string): RawBuilder<unknown> {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`prepared statement name ${name} must be lower-case letters and _`);
  return sql.raw(`/* prepared:${name} */`);
}

const PREPARED_MARK = /^\/\* prepared:([a-z_]+) \*\//;

/** Sends the statements `prepared()` marks as named prepared statements of this connection. */
function prepareMarkedStatements(client: PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((text: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof text === 'string' ? PREPARED_MARK.exec(text)?.[1] : undefined;
    if (name) return query({ name, text, values }, callback);
    return query(text, values, callback);
  }) as PoolClient['query'];
}

/**
 * Inside a transaction: ends it (rolled back) if it sits idle longer than `ms` between
 * statements, freeing its locks, e.g. while a stalled client sends nothing more.
 */
export async function setIdleInTransactionTimeout(trx: Db, ms: number): Promise<void> {
  await sql`SELECT set_config('idle_in_transaction_session_timeout', ${String(ms)}, true)`.execute(trx);
}
