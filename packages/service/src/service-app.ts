import express, { type Express, type Request, type Response } from 'express';
import type { Logger } from '@herald/logger';
import type { Registry } from 'prom-client';
import { errorHandler, notFoundHandler } from './error-handler';
import { createHealthRouter, type ReadinessChecks } from './health.router';
import { requestContext } from './request-context';
import { securityHeaders } from './security-headers';

export interface ServiceAppOptions {
  logger: Logger;
  checks: ReadinessChecks;
  metrics: Registry;
  /** Which backend the process runs on, for `/readyz`. */
  backend?: string;
  /** Mounts the app's own routes, between the probes and the 404/error handlers. */
  routes?: (app: Express) => void;
  /**
   * Mounts the process's busiest routes ahead of the probes, so a call does not first walk
   * the probes' layers. They must answer only their own paths, never `/healthz`, `/readyz`
   * or `/metrics`, and must not add middleware for everything (auth belongs in `routes`).
   */
  hotRoutes?: (app: Express) => void;
  /** Who may see `/metrics` and `/readyz`'s details (createHealthRouter); absent: everyone. */
  showProbeDetailsTo?: (req: Request) => boolean;
}

/**
 * The Express app every Herald process serves: security headers, request ids, the process's
 * hot routes, `/healthz`, `/readyz`, `/metrics`, then its other routes, then JSON 404 and the
 * one error handler.
 */
export function createServiceApp({ logger, checks, metrics, backend, routes, hotRoutes, showProbeDetailsTo }: ServiceAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  // ETags hash every JSON body; API answers are never revalidated, so that is wasted work.
  app.set('etag', false);
  // Never trust X-Forwarded-For implicitly. The hook resolves the caller's address itself
  // from the configured TRUSTED_PROXIES (SPEC §3, check 2).
  app.set('trust proxy', false);
  endJsonWithNewline(app);
  // First, so that every answer carries them: hot routes, probes, 404s and errors alike.
  app.use(securityHeaders);
  app.use(requestContext);
  hotRoutes?.(app);
  app.use(createHealthRouter({ checks, metrics, ...(backend ? { backend } : {}), ...(showProbeDetailsTo ? { showDetailsTo: showProbeDetailsTo } : {}) }));
  routes?.(app);
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}

/**
 * Every JSON answer of this app ends with a newline, so `curl` leaves the shell prompt on a
 * line of its own. Express's own `res.json` adds nothing; Herald sets none of the json
 * settings it would honour (replacer, spaces, escape).
 */
function endJsonWithNewline(app: Express): void {
  app.response.json = function json(this: Response, body: unknown): Response {
    if (!this.get('Content-Type')) this.set('Content-Type', 'application/json; charset=utf-8');
    return this.send(`${JSON.stringify(body)}\n`);
  };
}
