import { Gauge, Histogram, type Registry } from 'prom-client';
import { RUN_STATUSES } from '@herald/core';
import { countRunsByStatus, type Db } from '@herald/db';
import type { Logger } from '@herald/logger';

/** The dispatch stage's series (the delivery stage has its own: delivery-metrics.ts). */
export interface DispatchMetrics {
  /** One dispatch job, from claiming the run to handing off its deliveries, by outcome. */
  dispatchSeconds: Histogram<'outcome'>;
}

export function createDispatchMetrics(registry: Registry): DispatchMetrics {
  return {
    dispatchSeconds: new Histogram({
      name: 'herald_dispatch_duration_seconds',
      help: 'Dispatch jobs, from claiming the run to handing its deliveries to the channel queues, by outcome',
      labelNames: ['outcome'],
      // From a few contacts (milliseconds) to millions (a minute or more).
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600],
      registers: [registry],
    }),
  };
}

/**
 * `herald_runs{status}`: the runs in each status, counted in Postgres at each scrape (one
 * grouped count), so every worker reports the same numbers and a restart loses nothing.
 * Aggregate with max(), not sum(), across workers. Postgres unreachable: left out of that
 * scrape rather than failing the whole `/metrics` (`/readyz` says why).
 */
export function registerRunMetrics(registry: Registry, db: Db, logger: Logger): void {
  new Gauge({
    name: 'herald_runs',
    help: 'Runs per status, counted in Postgres at scrape time',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      try {
        const counts = await countRunsByStatus(db);
        this.reset();
        for (const status of RUN_STATUSES) this.set({ status }, counts[status] ?? 0);
      } catch (error) {
        this.reset();
        logger.warn('run metrics unavailable', { error });
      }
    },
  });
}
