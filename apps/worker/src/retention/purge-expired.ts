import { setTimeout as sleep } from 'node:timers/promises';
import {
  limitStatementTime,
  purgeDeliveriesOfExpiredRuns,
  purgeEmptyExpiredRuns,
  purgeTriggersOfExpiredRuns,
  purgeUnattachedTriggers,
  releaseRetentionLock,
  retentionHorizon,
  tryRetentionLock,
  type Db,
} from '@herald/db';

export interface RetentionSettings {
  /** RETENTION_DAYS: how long after it finished a run is kept; 0 keeps everything. */
  days: number;
  /** Rows per delete statement. */
  batchSize: number;
  /** The pause after each batch that deleted something. */
  pauseMs: number;
  /** Each batch's statement is cancelled past this (the pass then fails; the next one carries on). */
  statementTimeoutMs: number;
}

export const RETENTION_TABLES = ['triggers', 'deliveries', 'provider_messages', 'runs'] as const;
export type RetentionTable = (typeof RETENTION_TABLES)[number];
export type PurgeCounts = Record<RetentionTable, number>;

export type PurgeOutcome =
  | { outcome: 'off' }
  /** Another pass holds the lock (on this worker or another). */
  | { outcome: 'busy' }
  /** `stopped`: the worker is shutting down; the next pass carries on. */
  | { outcome: 'purged' | 'stopped'; horizon: Date; deleted: PurgeCounts; batches: number; ms: number };

export interface PurgeOptions {
  /** Aborted when the worker shuts down: the pass ends after the batch in flight. */
  signal?: AbortSignal;
  /** Called after each batch with what it deleted (metrics count progress as it happens). */
  onBatch?: (deleted: Partial<PurgeCounts>) => void;
}

/**
 * One retention pass (see retention.queries.ts for what goes and what stays):
 * 1. Take the retention lock on one connection, or return `busy`: one pass at a time.
 * 2. Fix the horizon (now - days, on the database's clock) for the whole pass.
 * 3. Runs finished before it, oldest first: their triggers, then their deliveries (with their
 *    provider message ids), then the runs left with nothing, a batch of each in turn until all
 *    three come back short. A run's rows thus go in many small statements, and the run last.
 * 4. Triggers that ended in no run before it, until a batch comes back short.
 * Each batch is its own transaction with a statement timeout, so locks are held for one batch
 * at most, and a pause after it leaves Postgres to the hook and the deliveries. Stopping
 * between two batches loses nothing: every batch is complete, and the next pass finds the rest.
 */
export async function purgeExpired(db: Db, settings: RetentionSettings, options: PurgeOptions = {}): Promise<PurgeOutcome> {
  if (settings.days === 0) return { outcome: 'off' };
  // The lock is the connection's: the pass runs on that one connection, then unlocks it.
  return db.connection().execute(async (connection) => {
    if (!(await tryRetentionLock(connection))) return { outcome: 'busy' as const };
    try {
      return await pass(connection, settings, options);
    } finally {
      await releaseRetentionLock(connection);
    }
  });
}

async function pass(
  db: Db,
  { days, batchSize: limit, pauseMs, statementTimeoutMs }: RetentionSettings,
  { signal, onBatch }: PurgeOptions,
): Promise<PurgeOutcome> {
  const started = performance.now();
  const horizon = await retentionHorizon(db, days);
  const deleted: PurgeCounts = { triggers: 0, deliveries: 0, provider_messages: 0, runs: 0 };
  let batches = 0;

  const batch = async <T>(statement: (trx: Db) => Promise<T>): Promise<T> => {
    const result = await db.transaction().execute(async (trx) => {
      await limitStatementTime(trx, statementTimeoutMs);
      return statement(trx);
    });
    batches++;
    return result;
  };
  const counted = async (counts: Partial<PurgeCounts>) => {
    for (const table of RETENTION_TABLES) deleted[table] += counts[table] ?? 0;
    onBatch?.(counts);
    if (pauseMs > 0 && Object.values(counts).some((n) => n > 0)) await sleep(pauseMs, undefined, { signal }).catch(() => undefined);
  };
  const result = (outcome: 'purged' | 'stopped'): PurgeOutcome => ({ outcome, horizon, deleted, batches, ms: Math.round(performance.now() - started) });

  for (;;) {
    if (signal?.aborted) return result('stopped');
    const triggers = await batch((trx) => purgeTriggersOfExpiredRuns(trx, horizon, limit));
    await counted({ triggers });
    const { deliveries, providerMessages } = await batch((trx) => purgeDeliveriesOfExpiredRuns(trx, horizon, limit));
    await counted({ deliveries, provider_messages: providerMessages });
    const runs = await batch((trx) => purgeEmptyExpiredRuns(trx, horizon, limit));
    await counted({ runs });
    // All short: the oldest `limit` expired runs were emptied and deleted, and there were no more.
    if (triggers < limit && deliveries < limit && runs < limit) break;
  }

  for (;;) {
    if (signal?.aborted) return result('stopped');
    const triggers = await batch((trx) => purgeUnattachedTriggers(trx, horizon, limit));
    await counted({ triggers });
    if (triggers < limit) break;
  }
  return result('purged');
}
