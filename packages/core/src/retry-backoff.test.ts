import { retryDelayMs, type RetryPolicy } from './retry-backoff';

const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 6_000 };

describe('retryDelayMs', () => {
  it('doubles per attempt, drawn from the upper half of the step', () => {
    expect(retryDelayMs(policy, 1, undefined, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1, undefined, () => 0.999999)).toBe(1_000);
    expect(retryDelayMs(policy, 2, undefined, () => 0)).toBe(1_000);
    expect(retryDelayMs(policy, 3, undefined, () => 0.5)).toBe(3_000);
  });

  it('caps the step', () => {
    expect(retryDelayMs(policy, 4, undefined, () => 1)).toBe(6_000);
  });

  it('never comes back before the provider asked', () => {
    expect(retryDelayMs(policy, 1, 2_000, () => 0)).toBe(2_000);
    expect(retryDelayMs(policy, 1, 10, () => 0)).toBe(500);
  });

  it('gives up after the last attempt', () => {
    expect(retryDelayMs(policy, 5, undefined)).toBeNull();
    expect(retryDelayMs(policy, 6, 1_000)).toBeNull();
  });

  it('spreads deliveries that failed together', () => {
    const waits = new Set(Array.from({ length: 50 }, () => retryDelayMs(policy, 3, undefined)));
    expect(waits.size).toBeGreaterThan(10);
    for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(2_000);
  });
});
