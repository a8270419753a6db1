/**
 * A per-address limit on hook calls answered 404 (issue 13): a scanner trying random tokens
 * gets 429 once it has had `perMinute` 404s in the current minute, before its next guess costs
 * a look-up. Real callers never see it: a known token is never a 404. Fixed one-minute windows,
 * per process; at most `maxAddresses` addresses are tracked, the least recently seen going
 * first, so the table cannot grow with the addresses of a distributed scan.
 */
export class NotFoundLimit {
  private readonly windows = new Map<string, { startedAt: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds until `address` may be answered 404 again, or 0 when it may now. */
  retryAfterSeconds(address: string, now = Date.now()): number {
    const window = this.windows.get(address);
    if (!window || now - window.startedAt >= 60_000 || window.count < this.perMinute) return 0;
    return Math.max(1, Math.ceil((window.startedAt + 60_000 - now) / 1000));
  }

  /** Counts a 404 answered to `address`. */
  record(address: string, now = Date.now()): void {
    const window = this.windows.get(address);
    this.windows.delete(address);
    const current = window && now - window.startedAt < 60_000 ? { ...window, count: window.count + 1 } : { startedAt: now, count: 1 };
    while (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(address, current);
  }
}
