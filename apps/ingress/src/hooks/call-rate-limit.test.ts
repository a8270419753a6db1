import { LocalRateLimiter } from './call-rate-limit';

describe('LocalRateLimiter (the embedded backend’s hook limits)', () => {
  it('allows `limit` calls per window per subject, then says how long until the window ends', async () => {
    let now = 1_000_000;
    const limiter = new LocalRateLimiter({ limit: 3, windowMs: 10_000 }, 100, () => now);
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push(await limiter.take('a:203.0.113.7'));
    expect(taken.slice(0, 3)).toEqual([{ allowed: true }, { allowed: true }, { allowed: true }]);
    expect(taken[3]).toEqual({ allowed: false, retryAfterSeconds: 10 });
    // Another subject has a window of its own.
    expect(await limiter.take('a:198.51.100.9')).toEqual({ allowed: true });

    now += 8_500; // 1.5 s left in the window, rounded up
    expect(await limiter.take('a:203.0.113.7')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    now += 1_500; // the window has ended: a new one opens
    expect(await limiter.take('a:203.0.113.7')).toEqual({ allowed: true });
  });

  it('tracks at most maxSubjects, forgetting the least recently seen first', async () => {
    const now = 0;
    const limiter = new LocalRateLimiter({ limit: 1, windowMs: 60_000 }, 2, () => now);
    await limiter.take('first');
    await limiter.take('second');
    await limiter.take('first'); // over the limit, and now the most recently seen
    await limiter.take('third'); // evicts `second`
    expect((await limiter.take('first')).allowed).toBe(false);
    expect((await limiter.take('second')).allowed).toBe(true); // forgotten: a fresh window
  });
});
