import type { Express } from 'express';
import type { Logger } from '@herald/logger';
import { createServiceApp, type ReadinessChecks } from '@herald/service';
import type { Registry } from 'prom-client';
import { HOOK_PATH, hookHandler, type HooksRouteOptions } from './routes/hooks.route';

export interface IngressDeps {
  logger: Logger;
  checks: ReadinessChecks;
  metrics: Registry;
  /** `embedded` or `services`, shown by `/readyz`. */
  backend?: string;
  hooks: Omit<HooksRouteOptions, 'metrics'>;
}

/** The public ingress: the launch web hook and the probes. No `listen`, so tests can mount it. */
export function createApp({ logger, checks, metrics, backend, hooks }: IngressDeps): Express {
  return createServiceApp({
    logger,
    checks,
    metrics,
    ...(backend ? { backend } : {}),
    // Before the probes: nearly every call the ingress gets is a hook call.
    hotRoutes: (app) => app.all(HOOK_PATH, hookHandler({ ...hooks, metrics })),
  });
}
