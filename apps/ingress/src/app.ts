import type { Express } from 'express';
import type { Logger } from '@herald/logger';
import { createServiceApp, type ReadinessChecks } from '@herald/service';
import type { AddressList } from './hooks/caller-address';
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
  /**
   * The addresses that may read `/metrics` and `/readyz`'s details on this public port, when
   * they call directly (INGRESS_PROBE_DETAILS_FROM); null: anyone.
   */
  probeDetailsFrom?: AddressList | null;
  /** Providers' receipts and opt-outs; absent in tests that mount the hook alone. */
  callbacks?: Omit<CallbacksRouteOptions, 'metrics' | 'logger'>;
}

/** The public ingress: the launch web hook, providers' callbacks and the probes. No `listen`, so tests can mount it. */
export function createApp({ logger, checks, metrics, backend, hooks, callbacks, probeDetailsFrom = null }: IngressDeps): Express {
  return createServiceApp({
    logger,
    checks,
    metrics,
    // A call through a proxy (it says so) is from the outside, whatever the proxy's address.
    ...(probeDetailsFrom
      ? { showProbeDetailsTo: (req) => !req.headers['x-forwarded-for'] && !req.headers['forwarded'] && probeDetailsFrom.has(req.socket.remoteAddress ?? '') }
      : {}),
    ...(backend ? { backend } : {}),
    // Before the probes: nearly every call the ingress gets is a hook call.
    hotRoutes: (app) => {
      app.all(HOOK_PATH, hookHandler({ ...hooks, metrics }));
      if (callbacks) app.all(CALLBACK_PATH, callbacksHandler({ ...callbacks, logger, metrics }));
    },
  });
}
