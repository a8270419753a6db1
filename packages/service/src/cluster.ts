import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '@herald/logger';
import { AggregatorRegistry, type Registry } from 'prom-client';

export interface ClusterOptions {
  /** How many processes serve; 1 runs `serve` here, with no cluster at all. */
  processes: number;
  logger: Logger;
  /** Starts one serving process (the same code runs in every cluster worker). */
  serve(): void;
  /** How long the primary waits for its workers to stop before it kills them. */
  shutdownTimeoutMs: number;
}

const RESTART_DELAY_MS = 500;

/**
 * One HTTP service on several cores: with `processes` > 1 this process becomes a node:cluster
 * primary that forks that many copies of itself; they share the listening port (the primary
 * hands each new connection to one of them, round-robin). Node runs JavaScript on one core, so
 * a busy ingress gains about what a second core can give (measured in docs/performance.md).
 *
 * The primary serves nothing itself. It restarts a worker that dies once listening; a worker
 * that dies before (bad configuration, port taken) stops the whole service with exit 1, since
 * forking it again would fail the same way. On SIGTERM or SIGINT it passes
 * SIGTERM to every worker (each drains as a single process would) and exits when all have
 * stopped: 0 if every one stopped cleanly. It also answers the workers' `/metrics` with the
 * sum over all of them (see `servedMetrics`).
 */
export function runClustered({ processes, logger, serve, shutdownTimeoutMs }: ClusterOptions): void {
  if (processes <= 1 || cluster.isWorker) {
    serve();
    return;
  }
  // Each live worker, and whether it has started listening.
  const workers = new Map<Worker, { listening: boolean }>();
  let stopping = false;
  let failed = false;

  const fork = () => workers.set(cluster.fork(), { listening: false });
  answerMetricsRequests();

  cluster.on('listening', (worker) => {
    const state = workers.get(worker);
    if (state) state.listening = true;
  });
  cluster.on('exit', (worker, code, signal) => {
    const listening = workers.get(worker)?.listening ?? false;
    workers.delete(worker);
    if (stopping) {
      // Killed by our SIGTERM before it set up its own handling: it was still starting, with
      // nothing in flight, so that is a clean stop too.
      if (code !== 0 && signal !== 'SIGTERM') failed = true;
      if (workers.size === 0) process.exit(failed ? 1 : 0);
      return;
    }
    if (!listening) {
      logger.error('a process failed to start; stopping the others', { pid: worker.process.pid, code, signal });
      stop('SIGTERM', 1);
      return;
    }
    logger.error('a process died; starting another', { pid: worker.process.pid, code, signal });
    setTimeout(() => stopping || fork(), RESTART_DELAY_MS);
  });

  const stop = (signal: NodeJS.Signals, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    if (exitCode !== 0) failed = true;
    logger.info('stopping all processes', { signal, processes: workers.size });
    if (workers.size === 0) process.exit(failed ? 1 : 0);
    for (const worker of workers.keys()) worker.process.kill('SIGTERM');
    // Each worker has its own deadline; this one only catches a worker that ignores it.
    setTimeout(() => {
      logger.error('processes did not stop in time; killing them', { timeoutMs: shutdownTimeoutMs });
      for (const worker of workers.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, shutdownTimeoutMs + 2_000).unref();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal));

  logger.info('starting processes', { processes });
  for (let i = 0; i < processes; i++) fork();
}

const METRICS_REQUEST = 'herald:metrics-request';
const METRICS_RESPONSE = 'herald:metrics-response';
const METRICS_TIMEOUT_MS = 6_000;

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}
interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

/** In the primary: a worker's `/metrics` asks here, and gets every worker's metrics summed. */
function answerMetricsRequests(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: Partial<MetricsRequest>) => {
    if (message.type !== METRICS_REQUEST || typeof message.id !== 'number') return;
    const id = message.id;
    // The worker may have died during the aggregation (up to 5 s): then there is no one to tell.
    const answer = (response: MetricsResponse) => {
      if (worker.isConnected()) worker.send(response, () => undefined);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ type: METRICS_RESPONSE, id, text }),
      (error: Error) => answer({ type: METRICS_RESPONSE, id, error: error.message }),
    );
  });
}

/** What `/metrics` serves. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * The metrics a process's `/metrics` answers with: its own registry; or, in a cluster worker,
 * the sum over every worker (asked of the primary), so a scrape that lands on any worker sees
 * the whole service and counters never jump back when the next scrape lands on another.
 */
export function servedMetrics(registry: Registry): MetricsSource {
  if (!cluster.isWorker) return registry;
  // prom-client's side of the aggregation: this worker answers the primary with this registry
  // (constructing an AggregatorRegistry is what installs that listener).
  AggregatorRegistry.setRegistries(registry);
  new AggregatorRegistry();
  let nextId = 0;
  const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  process.on('message', (message: Partial<MetricsResponse>) => {
    if (message.type !== METRICS_RESPONSE || typeof message.id !== 'number') return;
    const waiting = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiting?.reject(new Error(message.error));
    else waiting?.resolve(message.text ?? '');
  });
  return {
    contentType: registry.contentType,
    metrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        // The primary gives up on a silent worker after 5 s; this covers a primary that is gone.
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the cluster primary did not answer with the metrics'));
        }, METRICS_TIMEOUT_MS);
        pending.set(id, {
          resolve: (text) => (clearTimeout(timer), resolve(text)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        });
        process.send?.({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
      }),
  };
}
