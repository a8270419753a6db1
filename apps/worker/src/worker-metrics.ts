import { Gauge, Histogram, type Registry } from 'prom-client';
import { IN_PROGRESS_RUN_STATUSES } from '@herald/core';
import { runsInProgress, type Db } from '@herald/db';
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
 * The runs in progress, read in Postgres at each scrape through the partial index of runs in
 * progress (its cost does not grow with the finished runs): `herald_runs_in_progress{status}`,
 * and `herald_run_idle_seconds{status}`, how long ago the least recently active of them
 * showed activity — a dispatch that stopped beating, a delivery that stopped progressing. The
 * same on every worker: aggregate with max(), not sum(). Finished runs are counted by the API
 * (and the deliveries by herald_deliveries_total); counting them here would read the whole,
 * ever-growing table at every scrape. Postgres unreachable: left out of that scrape rather
 * than failing the whole `/metrics` (`/readyz` says why).
 */
export function registerRunMetrics(registry: Registry, db: Db, logger: Logger): void {
  // prom-client collects the gauges of a scrape concurrently: both share the one read in flight.
  let reading: ReturnType<typeof runsInProgress> | undefined;
  const read = () =>
    (reading ??= runsInProgress(db).finally(() => {
      reading = undefined;
    }));
  const collectFrom = (value: (runs: RunsOfStatus | undefined) => number) =>
    async function collect(this: Gauge<'status'>): Promise<void> {
      try {
        const runs = await read();
        this.reset();
        for (const status of IN_PROGRESS_RUN_STATUSES) this.set({ status }, value(runs[status]));
      } catch (error) {
        this.reset();
        logger.warn('run metrics unavailable', { error });
      }
    };
  new Gauge({
    name: 'herald_runs_in_progress',
    help: 'Runs dispatching or delivering, counted in Postgres at scrape time',
    labelNames: ['status'],
    registers: [registry],
    collect: collectFrom((runs) => runs?.runs ?? 0),
  });
  new Gauge({
    name: 'herald_run_idle_seconds',
    help: 'Seconds since the least recently active run in progress showed activity, per status',
    labelNames: ['status'],
    registers: [registry],
    collect: collectFrom((runs) => runs?.idleSeconds ?? 0),
  });
}

type RunsOfStatus = { runs: number; idleSeconds: number };
