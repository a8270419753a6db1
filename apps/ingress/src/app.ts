import type { Express } from 'express';
import type { Logger } from '@herald/logger';
import { createServiceApp, type ReadinessChecks } from '@herald/service';
import type { Registry } from 'prom-client';
import { CALLBACK_PATH, callbacksHandler, type CallbacksRouteOptions } from './routes/callbacks.route';
import { HOOK_PATH, hookHandler, type HooksRouteOptions } from './routes/hooks.route';

export interface IngressDeps {
  logger: Logger;
  checks: ReadinessChecks;
  metrics: Registry;
  /** `embedded` or `services`, shown by `/readyz`. */
  backend?: string;
  hooks: Omit<HooksRouteOptions, 'metrics'>;
  /** Providers' receipts and opt-outs; absent in tests that mount the hook alone. */
  callbacks?: Omit<CallbacksRouteOptions, 'metrics' | 'logger'>;
}

/** The public ingress: the launch web hook, providers' callbacks and the probes. No `listen`, so tests can mount it. */
export function createApp({ logger, checks, metrics, backend, hooks, callbacks }: IngressDeps): Express {
  return createServiceApp({
    logger,
    checks,
    metrics,
    ...(backend ? { backend } : {}),
    // Before the probes: nearly every call the ingress gets is a hook call.
    hotRoutes: (app) => {
      app.all(HOOK_PATH, hookHandler({ ...hooks, metrics }));
      if (callbacks) app.all(CALLBACK_PATH, callbacksHandler({ ...callbacks, logger, metrics }));
    },
  });
}
