import { Kysely, PostgresDialect, sql } from 'kysely';
import { Pool } from 'pg';
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
  pool.on('connect', (client) => client.on('error', (error) => options.onPoolError?.(error)));
  // `cursor` enables Kysely's `.stream()`, which keeps memory flat over million-row reads.
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
}

/** A cheap round trip for readiness probes. */
export async function pingDb(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
