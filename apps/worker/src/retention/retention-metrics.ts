import { Counter, Histogram, type Registry } from 'prom-client';
import { RETENTION_TABLES } from './purge-expired';

/** The retention pass's series: rows deleted as each batch commits, and each pass's duration. */
export interface RetentionMetrics {
  deleted: Counter<'table'>;
  passSeconds: Histogram<'outcome'>;
}

export function createRetentionMetrics(registry: Registry): RetentionMetrics {
  const deleted = new Counter({
    name: 'herald_retention_deleted_total',
    help: 'Rows deleted by retention (RETENTION_DAYS), per table, counted as each batch commits',
    labelNames: ['table'],
    registers: [registry],
  });
  // Every table shows from the start, at 0: "nothing deleted yet" rather than "no such series".
  for (const table of RETENTION_TABLES) deleted.inc({ table }, 0);
  return {
    deleted,
    passSeconds: new Histogram({
      name: 'herald_retention_pass_duration_seconds',
      help: 'Retention passes, from taking the lock to the last batch, by outcome (purged, or stopped by a shutdown)',
      labelNames: ['outcome'],
      // From a pass with nothing to delete (milliseconds) to the first pass over years of data.
      buckets: [0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200],
      registers: [registry],
    }),
  };
}
