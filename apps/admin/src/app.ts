import type { Express } from 'express';
import type { Logger } from '@herald/logger';
import { createServiceApp, type ReadinessChecks } from '@herald/service';
import type { Registry } from 'prom-client';

export interface AdminDeps {
  logger: Logger;
  checks: ReadinessChecks;
  metrics: Registry;
}

/** The management API and the queue dashboard. No `listen`, so tests can mount it. */
export function createApp({ logger, checks, metrics }: AdminDeps): Express {
  return createServiceApp({ logger, checks, metrics });
}
