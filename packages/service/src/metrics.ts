import { Registry, collectDefaultMetrics } from 'prom-client';

/** A registry per process, with Node's default metrics (memory, event loop lag, GC). */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'herald_' });
  return registry;
}
