import { NotFoundLimit } from './not-found-limit';

describe('NotFoundLimit', () => {
  it('lets an address have perMinute 404s, then asks it to wait for the rest of its minute', () => {
    const limit = new NotFoundLimit(3);
    const t = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(limit.retryAfterSeconds('198.51.100.7', t)).toBe(0);
      limit.record('198.51.100.7', t);
    }
    expect(limit.retryAfterSeconds('198.51.100.7', t + 15_000)).toBe(45);
    expect(limit.retryAfterSeconds('203.0.113.9', t + 15_000)).toBe(0); // another caller is not held
    expect(limit.retryAfterSeconds('198.51.100.7', t + 60_000)).toBe(0); // a new minute
  });

  it('tracks at most maxAddresses, forgetting the least recently seen', () => {
    const limit = new NotFoundLimit(1, 2);
    limit.record('a', 0);
    limit.record('b', 0);
    limit.record('c', 0); // forgets a
    expect(['a', 'b', 'c'].map((address) => limit.retryAfterSeconds(address, 1))).toEqual([0, 60, 60]);
  });
});
