import { Router, type Request } from 'express';
import type { Registry } from 'prom-client';
import { servedMetrics } from './cluster';

/** A named dependency probe: resolves when the dependency answers, rejects otherwise. */
export type ReadinessChecks = Readonly<Record<string, () => Promise<void>>>;

export interface HealthRouterOptions {
  checks: ReadinessChecks;
  metrics: Registry;
  /** Which backend the process runs on (`embedded` or `services`), shown by `/readyz`. */
  backend?: string;
  /** A probe slower than this counts as down: a hung dependency must not hang the probe. */
  checkTimeoutMs?: number;
  /**
   * Who may see the details: `/metrics`, and `/readyz`'s checks and their errors (which name
   * hosts and ports). Others get `/readyz`'s status alone and a 404 for `/metrics`. Absent:
   * everyone (a port that is not public).
   */
  showDetailsTo?: (req: Request) => boolean;
}

type CheckResult = { name: string; up: true } | { name: string; up: false; error: string };

async function runCheck(name: string, check: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return { name, up: true };
  } catch (error) {
    return { name, up: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `GET /healthz`: the process is up (liveness; never touches a dependency).
 * `GET /readyz`: every dependency answers → 200, else 503 naming what is down.
 * `GET /metrics`: Prometheus text.
 */
export function createHealthRouter({ checks, metrics, backend, checkTimeoutMs = 2_000, showDetailsTo = () => true }: HealthRouterOptions): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (req, res) => {
    const results = await Promise.all(Object.entries(checks).map(([name, check]) => runCheck(name, check, checkTimeoutMs)));
    const down = results.filter((r): r is Extract<CheckResult, { up: false }> => !r.up);
    const status = down.length ? 'unavailable' : 'ready';
    if (!showDetailsTo(req)) {
      res.status(down.length ? 503 : 200).json({ status });
      return;
    }
    res.status(down.length ? 503 : 200).json({
      status,
      ...(backend ? { backend } : {}),
      checks: Object.fromEntries(results.map((r) => [r.name, r.up ? 'up' : 'down'])),
      ...(down.length ? { errors: Object.fromEntries(down.map((r) => [r.name, r.error])) } : {}),
    });
  });

  const served = servedMetrics(metrics);
  router.get('/metrics', async (req, res, next) => {
    if (!showDetailsTo(req)) return next(); // the JSON 404 of any unknown path
    res.type(served.contentType).send(await served.metrics());
  });

  return router;
}
