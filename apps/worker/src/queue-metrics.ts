import { Gauge, type Registry } from 'prom-client';
import { QUEUE_NAMES, type JobProducer } from '@herald/queue';
import type { Logger } from '@herald/logger';

const STATES = ['waiting', 'delayed', 'active', 'prioritized', 'failed'] as const;

/**
 * `herald_queue_jobs{queue, state}`: the jobs in every queue, read from Redis at each scrape —
 * what an operator scales workers on (a growing `deliver-*` waiting count means more workers).
 * Redis unreachable: the series are left out of that scrape (and `/readyz` says why) rather
 * than failing the whole `/metrics`.
 */
export function registerQueueMetrics(registry: Registry, producer: JobProducer, logger: Logger): void {
  new Gauge({
    name: 'herald_queue_jobs',
    help: 'Jobs per queue and state, read from Redis at scrape time',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      try {
        const counts = await Promise.all(QUEUE_NAMES.map((queue) => producer.queue(queue).getJobCounts(...STATES)));
        this.reset();
        QUEUE_NAMES.forEach((queue, i) => {
          for (const state of STATES) this.set({ queue, state }, counts[i]![state] ?? 0);
        });
      } catch (error) {
        this.reset();
        logger.warn('queue metrics unavailable', { error });
      }
    },
  });
}
