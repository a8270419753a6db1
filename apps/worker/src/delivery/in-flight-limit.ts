/**
 * How many provider requests one worker process has in flight at once, across all its chunks
 * and channels (DELIVERY_CONCURRENCY). A chunk asks for a batch of slots, claims that many
 * deliveries, and gives each slot back when its send is answered: the claimed-but-unsent
 * window, which is what a crash can resend, never exceeds this.
 */
export class InFlightLimit {
  private free: number;
  private readonly waiters: { min: number; max: number; grant: (n: number) => void }[] = [];

  constructor(readonly capacity: number) {
    this.free = capacity;
  }

  /**
   * Waits until at least `min` slots are free, then takes up to `max` of them. Waiting for a
   * few rather than one keeps claims batched when the process runs at capacity.
   */
  acquire(max: number, min = 1): Promise<number> {
    const wanted = { min: Math.min(Math.max(1, min), this.capacity), max: Math.min(Math.max(1, max), this.capacity) };
    if (this.waiters.length === 0 && this.free >= wanted.min) return Promise.resolve(this.take(wanted.max));
    return new Promise((grant) => this.waiters.push({ ...wanted, grant }));
  }

  release(n = 1): void {
    this.free = Math.min(this.capacity, this.free + n);
    // First come, first served: a chunk asking for many is not starved by ones asking for few.
    while (this.waiters.length && this.free >= this.waiters[0]!.min) {
      const waiter = this.waiters.shift()!;
      waiter.grant(this.take(waiter.max));
    }
  }

  get inUse(): number {
    return this.capacity - this.free;
  }

  private take(max: number): number {
    const n = Math.min(max, this.free);
    this.free -= n;
    return n;
  }
}
