import { dispatchDelayMs } from './dispatch-timing';

const t = (ms: number) => new Date(Date.UTC(2026, 10, 26) + ms);

describe('dispatchDelayMs', () => {
  it('is the broadcast delay when there is no cap', () => {
    expect(dispatchDelayMs({ delayMs: 10_000, maxDelayMs: null, now: t(50_000), firstPendingAt: t(0) })).toBe(10_000);
  });

  it('is the broadcast delay while the cap is further away', () => {
    expect(dispatchDelayMs({ delayMs: 10_000, maxDelayMs: 60_000, now: t(20_000), firstPendingAt: t(0) })).toBe(10_000);
  });

  it('shrinks to what is left of the cap', () => {
    expect(dispatchDelayMs({ delayMs: 10_000, maxDelayMs: 60_000, now: t(55_000), firstPendingAt: t(0) })).toBe(5_000);
  });

  it('is zero once the cap has passed', () => {
    expect(dispatchDelayMs({ delayMs: 10_000, maxDelayMs: 60_000, now: t(61_000), firstPendingAt: t(0) })).toBe(0);
  });

  it('caps the first call itself when max_delay_ms is below delay_ms', () => {
    expect(dispatchDelayMs({ delayMs: 10_000, maxDelayMs: 3_000, now: t(0), firstPendingAt: t(0) })).toBe(3_000);
  });
});
