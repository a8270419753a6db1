/**
 * When a delivery that failed for a passing reason is tried again (SPEC §4): exponential
 * backoff with jitter, never earlier than the provider asked (`Retry-After` / `retry_after`).
 * Attempt n (1-based, the one that just failed) waits `base · 2^(n-1)`, capped, drawn at random
 * from its upper half ("equal jitter"): deliveries that failed together do not all come back
 * in the same instant, and none comes back sooner than half its step.
 */
export interface RetryPolicy {
  /** Attempts in all, the first send included (SPEC: 5 by default). */
  maxAttempts: number;
  /** The wait after the first failed attempt, before jitter. */
  baseDelayMs: number;
  /** No wait grows past this. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 2_000, maxDelayMs: 10 * 60_000 };

/**
 * The wait before the next attempt, or null when `attemptsMade` used them all.
 * `random` is injectable so tests can pin the jitter.
 */
export function retryDelayMs(policy: RetryPolicy, attemptsMade: number, retryAfterMs: number | undefined, random: () => number = Math.random): number | null {
  if (attemptsMade >= policy.maxAttempts) return null;
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = step / 2 + random() * (step / 2);
  return Math.ceil(Math.max(jittered, retryAfterMs ?? 0));
}
