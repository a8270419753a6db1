import type { Express } from 'express';
import type { Logger } from '@herald/logger';
import { createServiceApp, type ReadinessChecks } from '@herald/service';
import type { Registry } from 'prom-client';

export interface IngressDeps {
  logger: Logger;
  checks: ReadinessChecks;
  metrics: Registry;
}

/** The public ingress: the launch web hook and the probes. No `listen`, so tests can mount it. */
export function createApp({ logger, checks, metrics }: IngressDeps): Express {
  return createServiceApp({ logger, checks, metrics });
}
