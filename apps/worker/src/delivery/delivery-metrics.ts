import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The delivery stage's Prometheus series (SPEC §4). Labels are bounded: channel, provider,
 * outcome and reason are small fixed sets; no run, contact or connection ids.
 */
export interface DeliveryMetrics {
  /** Deliveries made final or put back for a retry, by channel, outcome and reason. */
  deliveries: Counter<'channel' | 'outcome' | 'reason'>;
  /** Provider request time, by channel, provider and how the answer was classified. */
  providerRequestSeconds: Histogram<'channel' | 'provider' | 'result'>;
  /** Time spent waiting for the shared per-connection throttle (or a provider's pause). */
  throttleWaitSeconds: Counter<'channel'>;
  /** Sends put back for a later attempt, by channel and provider error code class. */
  retries: Counter<'channel' | 'code'>;
}

export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  return {
    deliveries: new Counter({
      name: 'herald_deliveries_total',
      help: 'Deliveries by channel and outcome (sent, failed, skipped, retry) and reason',
      labelNames: ['channel', 'outcome', 'reason'],
      registers: [registry],
    }),
    providerRequestSeconds: new Histogram({
      name: 'herald_provider_request_duration_seconds',
      help: 'Provider send requests, from the request to its classified answer',
      labelNames: ['channel', 'provider', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    throttleWaitSeconds: new Counter({
      name: 'herald_throttle_wait_seconds_total',
      help: 'Seconds delivery spent waiting for a connection throttle or a provider pause',
      labelNames: ['channel'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'herald_delivery_retries_total',
      help: 'Sends put back for a later attempt',
      labelNames: ['channel', 'code'],
      registers: [registry],
    }),
  };
}
